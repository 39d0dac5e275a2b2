"""How many threads one process gives a network (Keras or the inference export): ``CPUNK_TF_THREADS`` (or
``TF_NUM_INTRAOP_THREADS``), else 2. A module of its own so that reading it loads no runtime."""

from __future__ import annotations

import os

THREADS = int(os.environ.get("CPUNK_TF_THREADS") or os.environ.get("TF_NUM_INTRAOP_THREADS") or 2)

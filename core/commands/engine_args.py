"""The ``--engine``/``--scheduler`` options shared by the commands that run on a local pool or a Dask cluster."""

from __future__ import annotations

import argparse


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--engine local|dask`` and ``--scheduler ADDRESS`` to ``p``."""
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local process pool, or a Dask cluster (default: %(default)s)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (with --engine dask; "
                        "default: a local cluster of --workers processes)")

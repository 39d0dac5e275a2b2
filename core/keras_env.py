"""Keras/TensorFlow set-up for a small shared CPU: quiet logs, few threads, reproducible runs.

Import ``keras`` through this module (``from core.keras_env import keras``) so the environment
variables are set before TensorFlow starts. The thread count is :data:`core.threads.THREADS`.
"""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN's convolutions run the musicnn VGG 1.5x faster than Eigen's (outputs equal within 3e-6)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _import_quietly() -> None:
    """Import TensorFlow with the C-level stderr closed: its libraries print a oneDNN banner while loading,
    before any log level applies. Python errors still propagate."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


_import_quietly()

import absl.logging  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

absl.logging.set_verbosity(absl.logging.ERROR)
tf.get_logger().setLevel(logging.ERROR)

from core.threads import THREADS  # noqa: E402


def set_threads(threads: int) -> None:
    """TensorFlow's intra-op thread count; only possible before its runtime has started (later: ignored)."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


set_threads(THREADS)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


__all__ = ["keras", "tf", "seed_everything", "set_threads", "THREADS"]

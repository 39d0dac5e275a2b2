"""Fit a built model on a ``tf.data`` pipeline with :mod:`core.models.train`'s listeners, stop flag and best weights.

:func:`core.models.train.train` fits feature rows; networks fed by other pipelines (spectrogram crops,
musicnn embeddings) use :func:`fit`, which reports epochs to the same listeners, honours the same
stop flag and patience, and leaves the model holding its best epoch's weights.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from core.keras_env import keras, tf
from core.models.train import EpochListener, EpochReport, EpochTracker, StopFlag


@dataclass
class FitHistory:
    """What :func:`fit` did: every epoch, the one whose weights the model keeps, how it ended."""

    epochs: list[EpochReport]
    best_epoch: int
    monitor: str
    stopped: bool
    early_stopped: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": [asdict(e) for e in self.epochs], "best_epoch": self.best_epoch, "monitor": self.monitor,
                "stopped": self.stopped, "early_stopped": self.early_stopped, "seconds": round(self.seconds, 2)}


def fit(model: keras.Model, data: tf.data.Dataset, epochs: int, *, validation: tf.data.Dataset | None = None,
        listeners: Iterable[EpochListener] = (), stop: StopFlag | None = None, monitor: str = "val_loss",
        patience: int | None = None) -> FitHistory:
    """Fit ``model`` for up to ``epochs``; without ``validation`` the monitor falls back to training loss."""
    t0 = time.perf_counter()
    monitor = monitor if validation is not None else monitor.removeprefix("val_")
    tracker = EpochTracker(epochs, list(listeners), stop, monitor, patience)
    tracker._check_stop()
    if not tracker.stopped:
        model.fit(data, epochs=epochs, verbose=0, shuffle=False, callbacks=[tracker], validation_data=validation)
    if tracker.best_weights is not None:
        model.set_weights(tracker.best_weights)
    return FitHistory(tracker.reports, tracker.best_epoch, monitor, tracker.stopped, tracker.early_stopped,
                      time.perf_counter() - t0)

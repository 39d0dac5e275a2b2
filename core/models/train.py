"""Training: a config, a feature table, listeners for every epoch and a cooperative stop flag.

One loop, :func:`fit`: ``model.fit`` with Keras callbacks (``EarlyStopping(restore_best_weights=True)``,
:class:`EpochReporter`, :class:`StopOnFlag`). :func:`train` prepares feature rows for it; networks fed by
other pipelines (spectrogram crops, musicnn embeddings, streamed Parquet) call :func:`fit` directly.
Listeners are plain callables taking an :class:`EpochReport`; they run on the thread that called
:func:`train` (a worker thread is fine), once per epoch, in order. Setting the ``stop`` event (any
object with ``is_set()``, e.g. :class:`threading.Event`) from another thread ends training after the
current batch; the model keeps its best weights either way. A run made of stages (audio training) reports
them, and its networks' epochs, through :class:`Stages`, which also ends it on a stop (keeping nothing).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Protocol

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from core.data.training_data import Level, TrainingRows, training_rows, validation_split
from core.keras_env import keras, seed_everything, tf
from core.models.builders import build_model


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in ``model.json``)."""

    architecture: str = "seed_mlp"
    level: Level = "slice"  # train on 3-s slice rows or on whole-track rows
    epochs: int = 120
    batch_size: int = 128
    validation_fraction: float = 0.2  # share of tracks held out (grouped) for curves and best weights
    monitor: str = "val_loss"  # metric picking the best epoch ("loss" when there is no validation)
    patience: int | None = None  # stop after this many epochs without improvement (None: never)
    balance_classes: bool = True  # weight classes by inverse frequency
    seed: int = 42
    model_config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = cls.__dataclass_fields__
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"Unknown training settings: {', '.join(unknown)}.")
        return cls(**data)


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch (1-based ``epoch`` of ``epochs``); validation values None without validation."""

    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float


@dataclass(frozen=True)
class StageReport:
    """Progress of a training stage that is not an epoch (audio training: ``patches``, ``folds``, ...): ``done``
    of ``total`` steps, ``seconds`` since the stage began; a finished step may carry its ``scores`` (a fold stage:
    the held-out scores of one setting), which the Train page draws as curves."""

    stage: str
    done: int
    total: int
    seconds: float
    scores: dict[str, float] | None = None


Report = EpochReport | StageReport
EpochListener = Callable[[EpochReport], None]


def report_of(line: dict[str, Any]) -> Report:
    """The report a ``--report-jsonl`` line holds (``dataclasses.asdict`` of either kind)."""
    return StageReport(**line) if "stage" in line else EpochReport(**line)


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class EpochLog:
    """A listener that keeps every epoch report, and every stage report (:meth:`stages`); safe to read from
    another thread (e.g. a UI's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: list[EpochReport] = []
        self._stages: list[StageReport] = []

    def __call__(self, report: Report) -> None:
        with self._lock:
            if isinstance(report, StageReport):
                self._stages.append(report)
            else:
                self._reports.append(report)

    def snapshot(self) -> list[EpochReport]:
        with self._lock:
            return list(self._reports)

    def stages(self) -> list[StageReport]:
        with self._lock:
            return list(self._stages)


class TrainingStopped(Exception):
    """The run was asked to stop (Ctrl-C, the Train page's Stop): audio training keeps nothing."""


@dataclass
class Stages:
    """Where a run made of stages is (audio training): each step of each stage goes to ``report`` as a
    :class:`StageReport` (seconds since the stage began), and so does each epoch of a network trained in a stage
    (:meth:`epochs`); the ``stop`` flag is checked at every step (:class:`TrainingStopped`)."""

    report: Callable[[Report], None] | None = None
    stop: StopFlag | None = None
    _stage: str = ""
    _began: float = 0.0

    def check(self) -> None:
        """Raise :class:`TrainingStopped` once the stop flag is set."""
        if self.stop is not None and self.stop.is_set():
            raise TrainingStopped("stopped on request")

    def step(self, stage: str, done: int, total: int, scores: dict[str, float] | None = None) -> None:
        """Report ``done`` of ``total`` steps of ``stage`` (first checking the stop flag)."""
        self.check()
        self._record(stage, done, total, scores)

    def _record(self, stage: str, done: int, total: int, scores: dict[str, float] | None = None) -> None:
        if stage != self._stage:
            self._stage, self._began = stage, time.perf_counter()
        if self.report is not None:
            self.report(StageReport(stage, done, total, round(time.perf_counter() - self._began, 3), scores))

    def epochs(self, stage: str) -> EpochListener:
        """A listener for :func:`fit` in ``stage``: each finished epoch's report (the curves) and the stage's
        progress, then the stop check."""
        def heard(epoch: EpochReport) -> None:
            if self.report is not None:
                self.report(epoch)
            self._record(stage, epoch.epoch, epoch.epochs)
            self.check()
        return heard


@dataclass
class TrainHistory:
    """What a training run did: every epoch, the one whose weights the model keeps, how it ended, and for
    :func:`train` the rows it was fitted and validated on (None for :func:`fit` on another pipeline)."""

    epochs: list[EpochReport]
    best_epoch: int  # 1-based epoch whose weights the model holds (0: none finished)
    monitor: str
    stopped: bool  # ended by the stop flag
    early_stopped: bool  # ended by patience
    seconds: float
    rows: TrainingRows | None = None  # the rows the model was fitted on (validation rows excluded)
    validation_rows: TrainingRows | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"epochs": [asdict(e) for e in self.epochs], "best_epoch": self.best_epoch,
               "monitor": self.monitor, "stopped": self.stopped, "early_stopped": self.early_stopped,
               "seconds": round(self.seconds, 2)}
        if self.rows is not None:
            out |= {"train_rows": len(self.rows), "train_tracks": int(len(set(self.rows.groups))),
                    "validation_rows": len(self.validation_rows) if self.validation_rows else 0}
        return out


class EpochReporter(keras.callbacks.Callback):
    """Times each epoch and hands its :class:`EpochReport` to every listener, in order."""

    def __init__(self, epochs: int, listeners: list[EpochListener]):
        super().__init__()
        self.total, self.listeners = epochs, listeners
        self.reports: list[EpochReport] = []
        self._t0 = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        report = EpochReport(epoch + 1, self.total, logs["loss"], logs["accuracy"], logs.get("val_loss"),
                             logs.get("val_accuracy"), time.perf_counter() - self._t0)
        self.reports.append(report)
        for listener in self.listeners:
            listener(report)


class StopOnFlag(keras.callbacks.Callback):
    """Ends training after the current batch once ``stop.is_set()``."""

    def __init__(self, stop: StopFlag):
        super().__init__()
        self.flag, self.stopped = stop, False

    def _check(self) -> None:
        if self.flag.is_set():
            self.stopped = self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._check()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._check()


def fit(model: keras.Model, data: tf.data.Dataset, epochs: int, *, validation: tf.data.Dataset | None = None,
        listeners: Iterable[EpochListener] = (), stop: StopFlag | None = None, monitor: str = "val_loss",
        patience: int | None = None) -> TrainHistory:
    """``model.fit`` with listeners, a stop flag and Keras' ``EarlyStopping(restore_best_weights=True)``:
    the model ends holding its best epoch's weights by ``monitor`` (training loss without ``validation``);
    ``patience`` None never stops early."""
    t0 = time.perf_counter()
    monitor = monitor if validation is not None else monitor.removeprefix("val_")
    if stop is not None and stop.is_set():  # asked to stop before the first batch
        return TrainHistory([], 0, monitor, True, False, time.perf_counter() - t0)
    reporter = EpochReporter(epochs, list(listeners))
    best = keras.callbacks.EarlyStopping(monitor, patience=epochs if patience is None else patience,
                                         restore_best_weights=True)
    flag = StopOnFlag(stop) if stop is not None else None
    model.fit(data, epochs=epochs, verbose=0, shuffle=False, validation_data=validation,
              callbacks=[reporter, best] + ([flag] if flag else []))
    return TrainHistory(reporter.reports, best.best_epoch + 1 if best.best_weights is not None else 0, monitor,
                        flag is not None and flag.stopped, best.stopped_epoch > 0, time.perf_counter() - t0)


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Inverse-frequency weights (mean 1 over the rows) for the classes present in the labels ``y``
    (scikit-learn's "balanced" weights)."""
    present = np.unique(y)
    return {int(c): float(w) for c, w in zip(present, compute_class_weight("balanced", classes=present, y=y))}


def _dataset(rows: TrainingRows, batch_size: int, weights: dict[int, float] | None,
             shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Batches of (x, y[, sample weight]) built directly (no Keras adapter threads or log noise)."""
    columns: tuple[np.ndarray, ...] = (rows.x, rows.y)
    if weights is not None:
        columns += (np.asarray([weights[int(c)] for c in rows.y], dtype=np.float32),)
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(rows.y), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def train(config: TrainConfig, table: pd.DataFrame | TrainingRows, callbacks: Iterable[EpochListener] = (),
          stop: StopFlag | None = None, classes: tuple[str, ...] | None = None,
          validation: TrainingRows | None = None) -> tuple[keras.Model, TrainHistory]:
    """Fit ``config.architecture`` on ``table`` (a feature table or prepared rows).

    Returns the model holding the weights of its best epoch (by ``config.monitor`` on the grouped
    validation tracks, or training loss without them) and the :class:`TrainHistory`. ``validation``
    gives the validation rows explicitly instead (e.g. a published split's "valid" tracks).
    """
    t0 = time.perf_counter()
    seed_everything(config.seed)
    rows = table if isinstance(table, TrainingRows) else training_rows(table, config.level, classes)
    val_rows: TrainingRows | None
    if validation is not None:
        fit_rows, val_rows = rows, validation
    else:
        split = validation_split(rows, config.validation_fraction, config.seed)
        fit_rows, val_rows = (rows, None) if split is None else (rows.subset(split[0]), rows.subset(split[1]))
    model = build_model(config.architecture, fit_rows.x, len(rows.classes), **config.model_config)
    weights = class_weights(fit_rows.y) if config.balance_classes else None
    history = fit(model, _dataset(fit_rows, config.batch_size, weights, shuffle_seed=config.seed), config.epochs,
                  validation=None if val_rows is None else _dataset(val_rows, 1024, None), listeners=callbacks,
                  stop=stop, monitor=config.monitor, patience=config.patience)
    history.rows, history.validation_rows = fit_rows, val_rows
    history.seconds = time.perf_counter() - t0
    return model, history

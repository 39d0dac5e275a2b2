"""One held-out test split under a protocol: train on the rest, score the test rows, compare other models.

This is what the Train page (and its benchmark) runs: a single split rather than k folds, so one
model is trained, watched live and can be saved. The splits are those of :mod:`core.models.evaluate`:

- ``seed``: a stratified random split of the rows (the first split of :func:`core.models.evaluate.evaluate_seed`);
  slices of one track land on both sides, so the score is optimistic.
- ``track``: the first fold of the grouped folds of :func:`core.models.evaluate.evaluate_track`; no test
  track is ever seen in training.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from core.data.store import FeatureTableError
from core.data.training_data import Level, TrainingRows, grouped_folds, training_rows
from core.keras_env import keras
from core.models.builders import architectures
from core.models.evaluate import LEAK_NOTE, Report, metrics, track_average
from core.models.model_inputs import input_kinds
from core.models.registry import ModelInfo, list_models, load_model
from core.models.train import EpochListener, StopFlag, TrainConfig, TrainHistory, train

HOLDOUT_PROTOCOLS = ("seed", "track")
TEST_FRACTION = 0.2  # one fold in five, as the 5-fold protocols
PROTOCOL_SENTENCES = {
    "seed": "Random split of the rows, as the seed project did: slices of one song end up in both training "
            "and test, so the model is tested on songs it has already heard and the score is inflated.",
    "track": "Honest split by song: a fifth of the tracks are held out entirely, so the score says how "
             "well the model does on songs it has never heard.",
}
TUNABLE = ("learning_rate", "dropout")  # builder keywords the Train page offers
# What the seed project reported (seed protocol, 3-s slices; its per-genre metric is not stated).
SEED_REPORTED = {"accuracy": 0.9318, "per_genre": {"classical": 0.96, "metal": 0.96, "rock": 0.88}}


@dataclass
class HoldoutResult:
    """A trained model, how training went, its test report and the registry models scored alike."""

    model: keras.Model
    config: TrainConfig
    history: TrainHistory
    report: Report
    test_rows: TrainingRows
    comparison: list[dict[str, Any]] = field(default_factory=list)

    def protocol_card(self) -> dict[str, Any]:
        """The ``protocol`` entry of ``model.json``."""
        return {"name": self.report.protocol, "split": "holdout", "test_fraction": TEST_FRACTION,
                "split_seed": self.config.seed, "test_rows": len(self.test_rows),
                "test_tracks": int(len(set(self.test_rows.groups))), "notes": self.report.notes}

    def metrics_card(self) -> dict[str, Any]:
        """The ``metrics`` entry of ``model.json``."""
        return {"summary": self.report.summary(), "rows": self.report.rows, "tracks": self.report.tracks}


def table_architectures() -> tuple[str, ...]:
    """Architectures whose models read feature-table rows (they declare ``inputs=("features",)``)."""
    return tuple(name for name, arch in architectures().items() if arch.inputs == ("features",))


def tunable_defaults(architecture: str) -> dict[str, float]:
    """The :data:`TUNABLE` keywords ``architecture``'s builder takes, with their defaults."""
    parameters = inspect.signature(architectures()[architecture].build).parameters
    return {k: parameters[k].default for k in TUNABLE if k in parameters}


def holdout_split(rows: TrainingRows, protocol: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train index, test index) of ``rows`` under ``protocol`` ('seed' or 'track')."""
    if protocol == "seed":
        try:
            train_index, test_index = train_test_split(np.arange(len(rows)), test_size=TEST_FRACTION,
                                                       stratify=rows.y, random_state=seed)
        except ValueError as exc:
            raise ValueError(f"Too few rows per genre for a stratified random split ({exc}).") from None
        return train_index, test_index
    if protocol == "track":
        folds = round(1 / TEST_FRACTION)
        tracks = {c: len(set(rows.groups[rows.y == i])) for i, c in enumerate(rows.classes)}
        few = [f"{c} ({n})" for c, n in tracks.items() if n < folds]
        if few:
            raise ValueError(f"The track protocol holds out a fifth of each genre's tracks, so every genre needs "
                             f"at least {folds} tracks; too few: {', '.join(few)}.")
        return grouped_folds(rows, folds, seed)[0]
    raise ValueError(f"Unknown protocol {protocol!r}; use one of {', '.join(HOLDOUT_PROTOCOLS)}.")


def score(probs: np.ndarray, rows: TrainingRows, classes: tuple[str, ...], protocol: str, config: TrainConfig,
          source: str = "") -> Report:
    """The :class:`Report` of probabilities over ``classes`` for ``rows`` (rows and per-track averages)."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[rows.classes[k]] for k in rows.y], dtype=np.int64)
    _, track_y, track_probs = track_average(rows.groups, y, probs)
    return Report(protocol, rows.level, classes, config.to_dict(), metrics(y, probs, classes),
                  metrics(track_y, track_probs, classes), notes=[LEAK_NOTE] if protocol == "seed" else [],
                  source=source)


def _predict(model: keras.Model, rows: TrainingRows) -> np.ndarray:
    return np.asarray(model.predict(rows.x, batch_size=4096, verbose=0), dtype=np.float64)


def compare_registry(test: TrainingRows, protocol: str, config: TrainConfig, table: pd.DataFrame | None = None,
                     models: Iterable[ModelInfo] | None = None) -> list[dict[str, Any]]:
    """Score every registry model that can read these rows on the same test rows (or test tracks).

    A model of the same schema whose only input is feature rows is scored on ``test``; one trained on the
    other level is scored on the test tracks' rows of its level (taken from ``table``), so only its track
    accuracy is comparable. Each entry: name, trained_on (source), its stored protocol and accuracy, and
    this split's row and track accuracy, or ``skipped`` with the reason. A model that fails is skipped with
    its error; the comparison itself never raises.
    """
    entries = []
    for info in list_models() if models is None else models:
        stored = info.meta.get("metrics", {}).get("summary", {})
        entry: dict[str, Any] = {"name": info.name, "trained_on": info.meta.get("dataset", {}).get("source", ""),
                                 "stored_protocol": info.meta.get("protocol", {}).get("name"),
                                 "stored_track_accuracy": stored.get("track_accuracy")}
        try:
            rows, why = _comparable_rows(info, test, table)
            if rows is None:
                entry["skipped"] = why
            else:
                loaded = load_model(info.name, info.path.parent)
                report = score(_predict(loaded.model, rows), rows, loaded.classes, protocol, config)
                entry["track_accuracy"] = report.tracks["accuracy"]
                if rows is test:
                    entry["row_accuracy"] = report.rows["accuracy"]
                else:
                    entry["scored_on"] = why
        except Exception as exc:  # one model must never fail the run: its row says what went wrong
            entry["skipped"] = f"could not be scored ({type(exc).__name__}: {exc})"[:300]
        entries.append(entry)
    return entries


def _comparable_rows(info: ModelInfo, test: TrainingRows,
                     table: pd.DataFrame | None) -> tuple[TrainingRows | None, str]:
    """The rows ``info``'s model can be scored on (None and why not, or the rows and what they are)."""
    inputs = input_kinds(info.meta)
    missing = sorted(set(test.classes) - set(info.classes))
    if inputs != ("features",):
        return None, f"reads {', '.join(inputs)}, not feature-table rows"
    if info.schema_id != test.schema.id:
        return None, f"reads {info.schema_id} features"
    if missing:
        return None, f"does not know {', '.join(missing)}"
    level: Level = "track" if info.level == "track" else "slice"
    if level == test.level:
        return test, ""
    if table is None:
        return None, f"trained on {info.level} rows"
    tracks = table[table["track_id"].astype(str).isin(set(test.groups))]
    try:
        return training_rows(tracks, level, test.classes), f"the test tracks' {level} rows"
    except FeatureTableError:
        return None, f"trained on {info.level} rows, which this table does not have"


def train_holdout(config: TrainConfig, table: pd.DataFrame, protocol: str, *, classes: tuple[str, ...] | None = None,
                  callbacks: Iterable[EpochListener] = (), stop: StopFlag | None = None, source: str = "",
                  compare: bool = True) -> HoldoutResult:
    """Split ``table`` under ``protocol``, train on the training part (listeners, stop flag), test the rest."""
    rows = training_rows(table, config.level, classes)
    train_index, test_index = holdout_split(rows, protocol, config.seed)
    model, history = train(config, rows.subset(train_index), callbacks=callbacks, stop=stop)
    test = rows.subset(test_index)
    report = score(_predict(model, test), test, rows.classes, protocol, config, source)
    comparison = compare_registry(test, protocol, config, table) if compare else []
    return HoldoutResult(model, config, history, report, test, comparison)

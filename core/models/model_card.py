"""``model.json`` as a typed :class:`ModelCard`: what a trained model is, what it was trained on, how
well it did, and the command that rebuilds it.

This module builds and reads cards; only :func:`core.models.registry.save_model` writes them. A card
of another format is refused with the way to migrate it (``scripts/migrate_cards.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from core.data.training_data import TrainingRows, fingerprint
from core.features.extract import SLICE_SECONDS
from core.features.schema import FeatureSchema

if TYPE_CHECKING:
    from core.keras_env import keras
    from core.models.train import TrainConfig, TrainHistory

CARD_FORMAT = 2


class CardError(ValueError):
    """A ``model.json`` that is not a card of this format; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Architecture:
    """The network: builder name, its settings (for ``musicnn_linear`` the recipe and the chosen C) and size."""

    name: str
    config: dict[str, Any]
    parameters: int


@dataclass(frozen=True)
class SchemaRef:
    """The feature schema the model reads (refused at load when the running extractor differs)."""

    id: str
    name: str
    version: str
    columns: tuple[str, ...]

    @classmethod
    def of(cls, schema: FeatureSchema) -> SchemaRef:
        return cls(schema.id, schema.name, schema.version, tuple(schema.columns))


@dataclass(frozen=True)
class Training:
    """How the model was fitted: ``config`` is :class:`core.models.train.TrainConfig`'s dict (networks
    trained by epochs, with ``history``) or the ``musicnn_linear`` recipe (with its patch counts)."""

    config: dict[str, Any]
    seconds: float
    history: dict[str, Any] | None = None  # TrainHistory.to_dict(): epochs, best_epoch, monitor, ...
    patches: int | None = None
    augmented_patches: int | None = None


@dataclass(frozen=True)
class Protocol:
    """How the metrics were measured: ``name`` (seed, track, file), one sentence, and the split's sizes."""

    name: str
    detail: str
    folds: int | None = None
    test_rows: int | None = None
    test_tracks: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metrics:
    """Held-out scores (:func:`core.models.evaluate.metrics` reports: n, accuracy, top3_accuracy,
    balanced_accuracy, per_genre, confusion) of tracks and, where scored, of rows; ``comparison``: the
    saved models scored on the same test set."""

    tracks: dict[str, Any]
    rows: dict[str, Any] | None = None
    ece: float | None = None
    ece_uncalibrated: float | None = None
    comparison: tuple[dict[str, Any], ...] = ()

    def summary(self) -> dict[str, float]:
        """The headline numbers: accuracy and top-3 of rows (when scored) and tracks."""
        out = {} if self.rows is None else {"row_accuracy": self.rows["accuracy"],
                                            "row_top3": self.rows["top3_accuracy"]}
        return out | {"track_accuracy": self.tracks["accuracy"], "track_top3": self.tracks["top3_accuracy"],
                      "track_balanced_accuracy": self.tracks["balanced_accuracy"]}


@dataclass(frozen=True)
class Calibration:
    """How the probabilities were calibrated."""

    method: str
    temperature: float


@dataclass(frozen=True)
class Dataset:
    """The training data: where it came from, its fingerprint and its size per genre."""

    sources: tuple[str, ...]  # paths, or what ``--source`` named
    fingerprint: str
    tracks: int
    tracks_per_class: dict[str, int]
    rows: int | None = None  # feature rows (None for models trained on audio)
    rows_per_class: dict[str, int] | None = None


@dataclass(frozen=True)
class FeatureStat:
    """One feature's distribution in one genre's training rows."""

    mean: float
    std: float
    q25: float
    median: float
    q75: float


@dataclass(frozen=True)
class FeatureStats:
    """Per genre, per feature column: the training rows' :class:`FeatureStat` (``level``: slice or track rows)."""

    level: str
    genres: dict[str, dict[str, FeatureStat]]

    @classmethod
    def of(cls, rows: TrainingRows) -> FeatureStats:
        genres = {}
        for i, genre in enumerate(rows.classes):
            x = rows.x[rows.y == i].astype(np.float64)
            if not len(x):
                continue
            q25, median, q75 = np.percentile(x, [25, 50, 75], axis=0)
            values = np.stack([x.mean(axis=0), x.std(axis=0), q25, median, q75], axis=1)
            genres[genre] = {c: FeatureStat(*(float(f"{v:.6g}") for v in row))
                             for c, row in zip(rows.schema.columns, values)}
        return cls(rows.level, genres)


@dataclass(frozen=True)
class ModelCard:
    """The content of ``model.json`` (format :data:`CARD_FORMAT`).

    ``level``: which rows the model expects, ``slice`` (3-s windows; a track's verdict is the mean of its
    windows' probabilities) or ``track``. ``inputs``: what it reads, in order (see
    :mod:`core.models.model_inputs`). ``command``: the ``python -m core train ...`` that rebuilds it
    (empty when no command can yet; ``notes`` then says so). ``reliability``: one entry per honesty
    module (calibration, "not music", novelty, neighbours), each written by that module's ``to_dict``.
    ``realworld``: the last real-world check (:func:`core.models.evaluate_audio.evaluate_audio`).
    ``inference``: written by the registry's save: the inference export (``model.onnx``) and how it was
    checked against the Keras network, or why the model has none (:mod:`core.models.inference`).
    """

    name: str
    created: str
    architecture: Architecture
    inputs: tuple[str, ...]
    feature_schema: SchemaRef
    level: str
    segment_seconds: float
    classes: tuple[str, ...]
    command: str
    training: Training
    dataset: Dataset
    protocol: Protocol | None = None
    metrics: Metrics | None = None
    calibration: Calibration | None = None
    feature_stats: FeatureStats | None = None
    realworld: dict[str, Any] | None = None
    reliability: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    inference: dict[str, Any] | None = None  # the inference export and its check (core.models.inference), or why none
    format: int = CARD_FORMAT

    def to_json(self) -> dict[str, Any]:
        """The card as JSON data (lists, not tuples)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, data: Any) -> ModelCard:
        """The card of ``model.json``'s data; :class:`CardError` for another format or a missing field."""
        if not isinstance(data, dict):
            raise CardError("it is not a JSON object.")
        if data.get("format") != CARD_FORMAT:
            raise CardError(f"it is a model card of format {data.get('format')!r}, this version reads format "
                            f"{CARD_FORMAT}; migrate it with `python scripts/migrate_cards.py FOLDER` or retrain it.")
        card = _build(cls, data, "")
        if not card.classes:
            raise CardError("it lists no classes.")
        return card


def _build(kind: Any, value: Any, where: str) -> Any:
    """``value`` (JSON data) as ``kind`` (a card type hint); :class:`CardError` naming the first field that does not fit."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _build(next(a for a in args if a is not type(None)), value, where)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise CardError(f"'{where}' should be an object.")
        hints = typing.get_type_hints(kind)
        fields = {f.name: f for f in dataclasses.fields(kind)}
        missing = [n for n, f in fields.items() if n not in value and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise CardError(f"it lacks {', '.join(where + n for n in missing)}.")
        return kind(**{n: _build(hints[n], v, f"{where}{n}.") for n, v in value.items() if n in fields})
    where = where.rstrip(".")
    if origin is tuple:
        if not isinstance(value, list):
            raise CardError(f"'{where}' should be a list.")
        return tuple(_build(args[0], v, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise CardError(f"'{where}' should be an object.")
        return {k: _build(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (str, int, float, bool) and not isinstance(value, kind):
        raise CardError(f"'{where}' should be a {kind.__name__}, not {value!r:.40}.")
    return value


def model_card(model: keras.Model, config: TrainConfig, history: TrainHistory, *, sources: tuple[str, ...],
               command: str, protocol: Protocol | None = None, metrics: Metrics | None = None,
               notes: str = "", segment_seconds: float = SLICE_SECONDS) -> ModelCard:
    """The card of a model fresh from :func:`core.models.train.train` (its ``name`` is set when it is saved)."""
    rows = history.rows
    if rows is None:
        raise ValueError("A model card needs the training rows (the history of core.models.train.train).")
    return ModelCard(
        name="", created=now(),
        architecture=Architecture(config.architecture, config.model_config, int(model.count_params())),
        inputs=("features",), feature_schema=SchemaRef.of(rows.schema), level=config.level,
        segment_seconds=segment_seconds, classes=tuple(rows.classes), command=command,
        training=Training(config.to_dict(), round(history.seconds, 2), history.to_dict()),
        dataset=Dataset(sources, fingerprint(rows),
                        tracks=int(len(set(rows.groups))),
                        tracks_per_class={c: len(set(rows.groups[rows.y == i])) for i, c in enumerate(rows.classes)},
                        rows=len(rows), rows_per_class={c: int((rows.y == i).sum()) for i, c in enumerate(rows.classes)}),
        protocol=protocol, metrics=metrics, feature_stats=FeatureStats.of(rows), notes=notes)


def now() -> str:
    """The card's ``created`` time stamp (UTC, seconds)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

"""``model.json``: what a trained model is, what it was trained on, and how well it did."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.data.training_data import fingerprint, genre_statistics
from core.features.extract import SLICE_SECONDS
from core.keras_env import keras
from core.models.train import TrainConfig, TrainHistory

CARD_FORMAT = 1


def model_card(model: keras.Model, config: TrainConfig, history: TrainHistory, *, source: str,
               protocol: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
               notes: str = "") -> dict[str, Any]:
    """The ``model.json`` content for a model fresh from :func:`core.models.train.train`.

    ``level`` says which rows the model expects: ``slice`` (3-s windows; a track's verdict is the
    mean of its windows' probabilities) or ``track`` (whole-track rows).
    """
    rows = history.rows
    if rows is None:
        raise ValueError("A model card needs the training rows (the history of core.models.train.train).")
    counts = {c: int((rows.y == i).sum()) for i, c in enumerate(rows.classes)}
    tracks = {c: len(set(rows.groups[rows.y == i])) for i, c in enumerate(rows.classes)}
    return {
        "format": CARD_FORMAT,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "architecture": {"name": config.architecture, "config": config.model_config,
                         "parameters": int(model.count_params())},
        "feature_schema": {"id": rows.schema.id, "name": rows.schema.name, "version": rows.schema.version,
                           "columns": list(rows.schema.columns)},
        "level": config.level,
        "segment_seconds": SLICE_SECONDS,
        "classes": list(rows.classes),
        "training": {"config": config.to_dict(), "history": history.to_dict()},
        "protocol": protocol or {},
        "metrics": metrics or {},
        "dataset": {"source": source, "fingerprint": fingerprint(rows), "rows": len(rows),
                    "rows_per_class": counts, "tracks_per_class": tracks},
        "feature_stats": genre_statistics(rows),
        "notes": notes,
    }

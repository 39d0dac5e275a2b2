"""Synthetic feature tables and tiny trained models for the model, training and prediction tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.features.schema import IDENTITY_COLUMNS, SEED, FeatureSchema
from core.models.model_card import Architecture, Dataset, ModelCard, SchemaRef, Training, now

GENRES3 = ("blues", "classical", "metal")


def synthetic_table(n_tracks: int = 6, n_slices: int = 4, genres: tuple[str, ...] = GENRES3,
                    schema: FeatureSchema = SEED, separation: float = 3.0, seed: int = 0) -> pd.DataFrame:
    """A feature table (whole-track + slice rows) whose genres differ in their mean feature values."""
    rng = np.random.default_rng(seed)
    n_features = len(schema.columns)
    centres = rng.normal(0, separation, (len(genres), n_features))
    scale = rng.uniform(0.5, 50, n_features)  # columns of very different magnitudes, as real features
    rows = []
    for g, genre in enumerate(genres):
        for t in range(n_tracks):
            track = centres[g] + rng.normal(0, 0.5, n_features)
            for s in range(-1, n_slices):
                values = (track + rng.normal(0, 0.7, n_features)) * scale
                rows.append({"track_id": f"{genre}/{genre}.{t:05d}", "path": "", "label": genre, "slice": s,
                             "start_s": max(s, 0) * 3.0, "duration_s": 30.0 if s < 0 else 3.0,
                             "schema_version": schema.id, **dict(zip(schema.columns, values))})
    return pd.DataFrame(rows)[list(IDENTITY_COLUMNS) + list(schema.columns)]


def bare_card(inputs: tuple[str, ...], classes: tuple[str, ...], architecture: str = "test") -> ModelCard:
    """The least card a registry model needs (no statistics, metrics or history), for hand-built networks."""
    return ModelCard(name="", created=now(), architecture=Architecture(architecture, {}, 0), inputs=inputs,
                     feature_schema=SchemaRef.of(SEED), level="slice", segment_seconds=3.0, classes=classes,
                     command="", training=Training({}, 0.0), dataset=Dataset(("synthetic",), "", 0, {}))


def save_tiny_model(root: Path, name: str = "tiny") -> Path:
    """A slice-level MLP of 8 units trained one epoch on :func:`synthetic_table`, saved as ``name`` in ``root``."""
    from core.models import registry
    from core.models.model_card import model_card
    from core.models.train import TrainConfig, train

    config = TrainConfig(level="slice", epochs=1, batch_size=16, validation_fraction=0, model_config={"units": (8,)})
    model, history = train(config, synthetic_table(n_tracks=3, n_slices=2))
    registry.save_model(name, model, model_card(model, config, history, sources=("synthetic",), command=""), root)
    return root

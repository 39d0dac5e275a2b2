"""From a feature table to training arrays: row level, labels, track groups, fingerprint, statistics.

A model is trained on one *level* of a feature table: ``slice`` rows (3-s slices, ``slice >= 0``) or
``track`` rows (whole-track rows, ``slice == -1``). Rows of one track share a group, so splits that
group by track never put slices of one track on both sides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from core.data.store import FeatureTableError, feature_schema_of
from core.features.schema import WHOLE_TRACK, FeatureSchema, genre_order

Level = Literal["slice", "track"]
LEVELS: tuple[str, ...] = ("slice", "track")


@dataclass
class TrainingRows:
    """The rows of one level of a feature table as arrays."""

    schema: FeatureSchema
    level: Level
    classes: tuple[str, ...]
    x: np.ndarray  # (n, n_features) float32
    y: np.ndarray  # (n,) int class index
    groups: np.ndarray  # (n,) track_id per row
    frame: pd.DataFrame  # the selected rows (identity + feature columns)

    def subset(self, index: np.ndarray) -> "TrainingRows":
        return TrainingRows(self.schema, self.level, self.classes, self.x[index], self.y[index],
                            self.groups[index], self.frame.iloc[index].reset_index(drop=True))

    def __len__(self) -> int:
        return len(self.y)


def level_rows(table: pd.DataFrame, level: Level) -> pd.DataFrame:
    """Rows of ``table`` at ``level`` ('slice' or 'track'); a clear error when there are none."""
    if level not in LEVELS:
        raise ValueError(f"Unknown level {level!r}; use one of {', '.join(LEVELS)}.")
    mask = table["slice"] == WHOLE_TRACK if level == "track" else table["slice"] >= 0
    rows = table[mask].reset_index(drop=True)
    if rows.empty:
        what = "whole-track rows (slice -1)" if level == "track" else "slice rows (slice >= 0)"
        raise FeatureTableError(f"The feature table has no {what}; choose the other level.")
    return rows


def training_rows(table: pd.DataFrame, level: Level, classes: tuple[str, ...] | None = None) -> TrainingRows:
    """Arrays for training or testing at ``level``; ``classes`` default to the genres present."""
    schema = feature_schema_of(table)
    rows = level_rows(table, level)
    labels = rows["label"].astype(str)
    if classes is None:
        classes = genre_order(labels)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise FeatureTableError(f"Labels not known to the model: {', '.join(unknown)} "
                                f"(known: {', '.join(classes)}).")
    index = {c: i for i, c in enumerate(classes)}
    x = rows[list(schema.columns)].to_numpy(dtype=np.float32)
    y = labels.map(index).to_numpy(dtype=np.int64)
    return TrainingRows(schema, level, tuple(classes), x, y, rows["track_id"].astype(str).to_numpy(), rows)


def grouped_folds(rows: TrainingRows, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold by track: (train_index, test_index) pairs; no track on both sides."""
    n_tracks = len(set(rows.groups))
    if n_tracks < n_splits:
        raise ValueError(f"{n_tracks} tracks cannot be split into {n_splits} folds.")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(rows.x, rows.y, rows.groups))


def validation_split(rows: TrainingRows, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """One grouped, stratified (train, validation) split with about ``fraction`` of the tracks held out.

    None when ``fraction`` is 0 or there are too few to hold any out: fewer tracks than folds, or no genre with
    a row for each fold (scikit-learn's stratified split refuses that; a genre short of tracks for some
    folds is only missing from their validation part).
    """
    if fraction <= 0:
        return None
    n_splits = max(2, int(round(1 / fraction)))
    if len(set(rows.groups)) < n_splits or pd.Series(rows.y).value_counts().max() < n_splits:
        return None
    return grouped_folds(rows, n_splits, seed)[0]


def fingerprint(rows: TrainingRows) -> str:
    """sha256 of the training rows (track, slice, label, feature values), independent of row order."""
    frame = rows.frame
    order = np.lexsort((frame["slice"].to_numpy(), frame["track_id"].astype(str).to_numpy()))
    h = hashlib.sha256()
    h.update(rows.schema.id.encode())
    for track, slice_, label in frame[["track_id", "slice", "label"]].iloc[order].itertuples(index=False):
        h.update(f"{track}\t{slice_}\t{label}\n".encode())
    h.update(np.ascontiguousarray(rows.x[order], dtype="<f4").tobytes())
    return "sha256:" + h.hexdigest()


def track_average(groups: np.ndarray, y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per track: (track ids, label, mean of its rows' probabilities)."""
    tracks, inverse = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(tracks), probs.shape[1]))
    np.add.at(sums, inverse, probs)
    counts = np.bincount(inverse, minlength=len(tracks))[:, None]
    labels = np.zeros(len(tracks), dtype=y.dtype)
    labels[inverse] = y
    return tracks, labels, sums / counts

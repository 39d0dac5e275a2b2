"""Evaluation protocols and reports: the seed's leaky random split next to honest track-grouped folds.

- ``seed``: a random split of the rows, as the seed project did. Slices of one track land on both
  sides, so the model is tested on tracks it has heard: the number is optimistic.
- ``track``: stratified k-fold grouped by track; every row is predicted by the fold model that never
  saw its track. Reports row (slice) accuracy and track accuracy (slice probabilities averaged).
- ``file``: a split file (CSV ``track_id,split`` with train/valid/test) for published splits.

Reports hold accuracy, top-3 accuracy, balanced accuracy, per-genre precision/recall/F1 and the
confusion matrix (rows: true genre, columns: predicted), for rows and for tracks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from core.data.training_data import TrainingRows, grouped_folds, training_rows
from core.models.builders import predict_proba
from core.models.train import EpochListener, TrainConfig, train

PROTOCOLS = ("seed", "track", "file")
LEAK_NOTE = ("seed protocol: rows are split at random, so slices of one track are in both train and "
             "test; accuracy is inflated (the model has heard the test tracks).")
SPLITS = ("train", "valid", "test")


def metrics(y: np.ndarray, probs: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, top-3, balanced accuracy, per-genre P/R/F1 and confusion matrix of predictions."""
    labels = np.arange(len(classes))
    predicted = probs.argmax(axis=1)
    top3 = np.argsort(-probs, axis=1)[:, :3]
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    present = support > 0
    return {
        "n": int(len(y)),
        "accuracy": float((predicted == y).mean()),
        "top3_accuracy": float((top3 == y[:, None]).any(axis=1).mean()),
        "balanced_accuracy": float(recall[present].mean()),
        "per_genre": {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for c, p, r, f, s in zip(classes, precision, recall, f1, support)},
        "confusion": confusion_matrix(y, predicted, labels=labels).tolist(),
    }


def track_average(groups: np.ndarray, y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per track: (track ids, label, mean of its rows' probabilities)."""
    tracks, inverse = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(tracks), probs.shape[1]))
    np.add.at(sums, inverse, probs)
    counts = np.bincount(inverse, minlength=len(tracks))[:, None]
    labels = np.zeros(len(tracks), dtype=y.dtype)
    labels[inverse] = y
    return tracks, labels, sums / counts


@dataclass
class Report:
    """Result of one protocol run."""

    protocol: str
    level: str
    classes: tuple[str, ...]
    config: dict[str, Any]
    rows: dict[str, Any]  # metrics over test rows (slices or whole tracks)
    tracks: dict[str, Any]  # metrics over test tracks (slice probabilities averaged)
    folds: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "level": self.level, "classes": list(self.classes),
                "source": self.source, "created": self.created, "config": self.config, "notes": self.notes,
                "rows": self.rows, "tracks": self.tracks, "folds": self.folds}

    def summary(self) -> dict[str, float]:
        """The headline numbers: accuracy and top-3 of rows and tracks."""
        return {"row_accuracy": self.rows["accuracy"], "row_top3": self.rows["top3_accuracy"],
                "track_accuracy": self.tracks["accuracy"], "track_top3": self.tracks["top3_accuracy"],
                "track_balanced_accuracy": self.tracks["balanced_accuracy"]}


def _report(protocol: str, config: TrainConfig, rows: TrainingRows, index: np.ndarray, probs: np.ndarray,
            folds: list[dict[str, Any]], notes: list[str], source: str) -> Report:
    y, groups = rows.y[index], rows.groups[index]
    _, track_y, track_probs = track_average(groups, y, probs)
    return Report(protocol, rows.level, rows.classes, config.to_dict(), metrics(y, probs, rows.classes),
                  metrics(track_y, track_probs, rows.classes), folds, notes, source)


Progress = Callable[[str], None]


def evaluate_seed(config: TrainConfig, table: pd.DataFrame, *, test_fraction: float = 0.2, source: str = "",
                  callbacks: Iterable[EpochListener] = ()) -> Report:
    """The seed's protocol: a stratified random split of the rows (leaky; see LEAK_NOTE)."""
    rows = training_rows(table, config.level)
    train_index, test_index = train_test_split(np.arange(len(rows)), test_size=test_fraction,
                                               stratify=rows.y, random_state=config.seed)
    model, _ = train(config, rows.subset(train_index), callbacks=callbacks)
    probs = predict_proba(model, rows.x[test_index])
    return _report("seed", config, rows, test_index, probs, [], [LEAK_NOTE], source)


def evaluate_track(config: TrainConfig, table: pd.DataFrame, *, folds: int = 5, source: str = "",
                   callbacks: Iterable[EpochListener] = (), progress: Progress | None = None) -> Report:
    """Stratified k-fold grouped by track: out-of-fold predictions for every row."""
    rows = training_rows(table, config.level)
    probs = np.zeros((len(rows), len(rows.classes)))
    fold_info = []
    for k, (train_index, test_index) in enumerate(grouped_folds(rows, folds, config.seed), 1):
        assert not set(rows.groups[train_index]) & set(rows.groups[test_index]), "a track crossed folds"
        model, history = train(config, rows.subset(train_index), callbacks=callbacks)
        probs[test_index] = predict_proba(model, rows.x[test_index])
        accuracy = float((probs[test_index].argmax(axis=1) == rows.y[test_index]).mean())
        fold_info.append({"fold": k, "test_rows": int(len(test_index)),
                          "test_tracks": int(len(set(rows.groups[test_index]))), "row_accuracy": accuracy,
                          "best_epoch": history.best_epoch})
        if progress is not None:
            progress(f"fold {k}/{folds}: row accuracy {accuracy:.3f}")
    return _report("track", config, rows, np.arange(len(rows)), probs, fold_info, [], source)


def read_split_file(path: str) -> pd.Series:
    """A split file as a Series track_id -> split; clear errors for bad content."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"track_id", "split"} <= set(frame.columns):
        raise ValueError(f"{path}: a split file needs the columns track_id,split (found: {', '.join(frame.columns)}).")
    bad = sorted(set(frame["split"]) - set(SPLITS))
    if bad:
        raise ValueError(f"{path}: unknown split names {', '.join(bad)} (use {', '.join(SPLITS)}).")
    if frame["track_id"].duplicated().any():
        raise ValueError(f"{path}: tracks listed twice: {', '.join(frame.loc[frame['track_id'].duplicated(), 'track_id'][:5])}.")
    return frame.set_index("track_id")["split"]


def evaluate_file(config: TrainConfig, table: pd.DataFrame, split_file: str, *, source: str = "",
                  callbacks: Iterable[EpochListener] = ()) -> Report:
    """Train on the split file's train tracks (valid picks the best epoch), test on its test tracks."""
    rows = training_rows(table, config.level)
    split = read_split_file(split_file).reindex(rows.groups).to_numpy()
    missing = sorted(set(rows.groups[pd.isna(split)]))
    notes = [f"{len(missing)} tracks of the table are not in the split file and were left out."] if missing else []
    index = {s: np.flatnonzero(split == s) for s in SPLITS}
    if not len(index["train"]) or not len(index["test"]):
        raise ValueError(f"{split_file}: no table rows in the train or test split (check the track ids).")
    fit, valid = rows.subset(index["train"]), rows.subset(index["valid"]) if len(index["valid"]) else None
    model, _ = train(config, fit, callbacks=callbacks, validation=valid)
    probs = predict_proba(model, rows.x[index["test"]])
    return _report("file", config, rows, index["test"], probs, [], notes, source)


def format_report(report: Report, reference: dict[str, float] | None = None) -> str:
    """A readable table: headline numbers, then per-genre precision/recall/F1 (tracks and rows).

    ``reference`` adds a column of per-genre numbers to compare with (e.g. the seed's accuracies).
    """
    lines = [f"protocol {report.protocol} ({report.level} rows){': ' + report.source if report.source else ''}"]
    lines += [f"  note: {n}" for n in report.notes]
    for name, m in (("rows", report.rows), ("tracks", report.tracks)):
        if report.level == "track" and name == "tracks":
            continue
        lines.append(f"  {name:<6} n={m['n']:<6} accuracy {m['accuracy']:.2%}  top-3 {m['top3_accuracy']:.2%}  "
                     f"balanced {m['balanced_accuracy']:.2%}")
    per = report.tracks if report.level == "slice" and report.protocol != "seed" else report.rows
    header = f"  {'genre':<10} {'prec':>6} {'recall':>6} {'F1':>6} {'n':>5}" + ("   seed" if reference else "")
    lines += ["", f"  per genre ({'tracks' if per is report.tracks else 'rows'}):", header]
    for genre, g in per["per_genre"].items():
        ref = f"  {reference[genre]:.0%}" if reference and genre in reference else ""
        lines.append(f"  {genre:<10} {g['precision']:>6.2f} {g['recall']:>6.2f} {g['f1']:>6.2f} {g['support']:>5}{ref}")
    lines += ["", "  confusion (rows: true, columns: predicted):",
              "  " + " " * 10 + " ".join(f"{c[:5]:>5}" for c in report.classes)]
    for genre, counts in zip(report.classes, per["confusion"]):
        lines.append(f"  {genre:<10}" + " ".join(f"{v:>5}" for v in counts))
    return "\n".join(lines)


def evaluate(protocol: str, config: TrainConfig, table: pd.DataFrame, *, folds: int = 5,
             split_file: str | None = None, test_fraction: float = 0.2, source: str = "",
             progress: Progress | None = None) -> Report:
    """Run one protocol by name (see :data:`PROTOCOLS`)."""
    if protocol == "seed":
        return evaluate_seed(config, table, test_fraction=test_fraction, source=source)
    if protocol == "track":
        return evaluate_track(config, table, folds=folds, source=source, progress=progress)
    if protocol == "file":
        if not split_file:
            raise ValueError("The file protocol needs a split file (--split-file).")
        return evaluate_file(config, table, split_file, source=source)
    raise ValueError(f"Unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}.")

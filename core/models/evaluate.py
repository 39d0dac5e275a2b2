"""Evaluation: protocols, one split, one scorer, and the Train page's single held-out run.

- ``seed``: a random split of the rows, as the seed project did. Slices of one track land on both
  sides, so the model is tested on tracks it has heard: the number is optimistic.
- ``track``: stratified k-fold grouped by track; every row is predicted by the fold model that never
  saw its track. Reports row (slice) accuracy and track accuracy (slice probabilities averaged).
- ``file``: a split file (CSV ``track_id,split`` with train/valid/test) for published splits.

:func:`split` makes a protocol's (train, test) split, :func:`score` turns probabilities into a
:class:`Report`: accuracy, top-3 accuracy, balanced accuracy, per-genre precision/recall/F1 and the
confusion matrix (rows: true genre, columns: predicted), for rows and for tracks. :func:`evaluate` runs
a protocol (all k folds for ``track``); :func:`train_holdout` trains one model on one held-out split (what
the Train page runs and watches live) and :func:`compare_registry` scores registered models on the same
test rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from core import storage
from core.data.store import FeatureTableError
from core.data.training_data import Level, TrainingRows, grouped_folds, track_average, training_rows
from core.keras_env import keras
from core.models.builders import predict_proba
from core.models.model_card import Metrics, Protocol
from core.models.model_inputs import input_kinds
from core.models.registry import ModelInfo, list_models, load_model
from core.models.train import EpochListener, StopFlag, TrainConfig, TrainHistory, train

PROTOCOLS = ("seed", "track", "file")
HOLDOUT_PROTOCOLS = ("seed", "track")
TEST_FRACTION = 0.2  # one fold in five, as the 5-fold protocols
LEAK_NOTE = ("seed protocol: rows are split at random, so slices of one track are in both train and "
             "test; accuracy is inflated (the model has heard the test tracks).")
SPLITS = ("train", "valid", "test")

PROTOCOL_SENTENCES = {
    "seed": "Random split of the rows, as the seed project did: slices of one song end up in both training "
            "and test, so the model is tested on songs it has already heard and the score is inflated.",
    "track": "Honest split by song: a fifth of the tracks are held out entirely, so the score says how "
             "well the model does on songs it has never heard.",
}
# What the seed project reported (seed protocol, 3-s slices; its per-genre metric is not stated).
SEED_REPORTED = {"accuracy": 0.9318, "per_genre": {"classical": 0.96, "metal": 0.96, "rock": 0.88}}


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


def split(rows: TrainingRows, protocol: str, seed: int, test_fraction: float = TEST_FRACTION
          ) -> tuple[np.ndarray, np.ndarray]:
    """(train index, test index) of ``rows`` under ``protocol``: a stratified random split of the rows
    ('seed') or the first of the grouped folds holding out ``test_fraction`` of each genre's tracks ('track')."""
    if protocol == "seed":
        try:
            train_index, test_index = train_test_split(np.arange(len(rows)), test_size=test_fraction,
                                                       stratify=rows.y, random_state=seed)
        except ValueError as exc:
            raise ValueError(f"Too few rows per genre for a stratified random split ({exc}).") from None
        return train_index, test_index
    if protocol == "track":
        folds = round(1 / test_fraction)
        tracks = {c: len(set(rows.groups[rows.y == i])) for i, c in enumerate(rows.classes)}
        few = [f"{c} ({n})" for c, n in tracks.items() if n < folds]
        if few:
            share = "a fifth" if folds == 5 else f"1/{folds}"
            raise ValueError(f"The track protocol holds out {share} of each genre's tracks, so every genre needs "
                             f"at least {folds} tracks; too few: {', '.join(few)}.")
        return grouped_folds(rows, folds, seed)[0]
    raise ValueError(f"Unknown protocol {protocol!r}; use one of {', '.join(HOLDOUT_PROTOCOLS)}.")


def score(probs: np.ndarray, rows: TrainingRows, classes: tuple[str, ...], protocol: str, config: TrainConfig,
          source: str = "", *, folds: list[dict[str, Any]] | None = None, notes: Iterable[str] = ()) -> Report:
    """The :class:`Report` of probabilities over ``classes`` for ``rows`` (rows and per-track averages)."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[rows.classes[k]] for k in rows.y], dtype=np.int64)
    _, track_y, track_probs = track_average(rows.groups, y, probs)
    return Report(protocol, rows.level, classes, config.to_dict(), metrics(y, probs, classes),
                  metrics(track_y, track_probs, classes), folds or [],
                  ([LEAK_NOTE] if protocol == "seed" else []) + list(notes), source)


Progress = Callable[[str], None]


def evaluate_seed(config: TrainConfig, table: pd.DataFrame, *, test_fraction: float = TEST_FRACTION, source: str = "",
                  callbacks: Iterable[EpochListener] = ()) -> Report:
    """The seed's protocol: a stratified random split of the rows (leaky; see LEAK_NOTE)."""
    rows = training_rows(table, config.level)
    train_index, test_index = split(rows, "seed", config.seed, test_fraction)
    model, _ = train(config, rows.subset(train_index), callbacks=callbacks)
    test = rows.subset(test_index)
    return score(predict_proba(model, test.x), test, rows.classes, "seed", config, source)


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
    return score(probs, rows, rows.classes, "track", config, source, folds=fold_info)


def read_split_file(path: str) -> pd.Series:
    """A split file as a Series track_id -> split; clear errors for bad content."""
    with storage.open_input(path) as handle:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
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
    test = rows.subset(index["test"])
    return score(predict_proba(model, test.x), test, rows.classes, "file", config, source, notes=notes)


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
             split_file: str | None = None, test_fraction: float = TEST_FRACTION, source: str = "",
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


@dataclass
class HoldoutResult:
    """A trained model, how training went, its test report and the registry models scored alike."""

    model: keras.Model
    config: TrainConfig
    history: TrainHistory
    report: Report
    test_rows: TrainingRows
    comparison: list[dict[str, Any]] = field(default_factory=list)

    def protocol_card(self) -> Protocol:
        """The card's ``protocol``: the held-out test set."""
        held = "rows" if self.report.protocol == "seed" else "tracks"
        return Protocol(self.report.protocol, f"{self.report.protocol}: {TEST_FRACTION:.0%} of the {held} held out "
                        f"as a test set (split seed {self.config.seed})", test_rows=len(self.test_rows),
                        test_tracks=int(len(set(self.test_rows.groups))), notes=tuple(self.report.notes))

    def metrics_card(self) -> Metrics:
        """The card's ``metrics``: the test set's scores and the saved models scored on it."""
        return Metrics(self.report.tracks, rows=self.report.rows, comparison=tuple(self.comparison))


def compare_registry(test: TrainingRows, protocol: str, config: TrainConfig, table: pd.DataFrame | None = None,
                     models: Iterable[ModelInfo] | None = None) -> list[dict[str, Any]]:
    """Score every registry model that can read these rows on the same test rows (or test tracks).

    A model of the same schema whose only input is feature rows is scored on ``test``; one trained on the
    other level is scored on the test tracks' rows of its level (taken from ``table``), so only its track
    accuracy is comparable; one trained on other genres is scored on the test tracks of the genres it knows
    (skipped, with its genres named, when it knows none). Each entry: name, trained_on (source), its stored protocol and accuracy, and
    this split's row and track accuracy, or ``skipped`` with the reason. A model that fails is skipped with
    its error; the comparison itself never raises.
    """
    entries = []
    for info in list_models() if models is None else models:
        card = info.card
        entry: dict[str, Any] = {"name": info.name, "trained_on": " + ".join(card.dataset.sources),
                                 "stored_protocol": card.protocol.name if card.protocol else None,
                                 "stored_track_accuracy": card.metrics.tracks["accuracy"] if card.metrics else None}
        try:
            rows, why = _comparable_rows(info, test, table)
            if rows is None:
                entry["skipped"] = why
            else:
                loaded = load_model(info.name, info.path.parent)
                report = score(predict_proba(loaded.model, rows.x), rows, loaded.classes, protocol, config)
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
    """The rows ``info``'s model can be scored on (None and why not, or the rows and what they are): the test
    rows of the genres it knows (all of them, or those where the class sets overlap), at its level."""
    inputs = input_kinds(info.card)
    known = [c for c in test.classes if c in info.classes]
    if inputs != ("features",):
        return None, f"reads {', '.join(inputs)}, not feature-table rows"
    if info.schema_id != test.schema.id:
        return None, f"reads {info.schema_id} features"
    if not known:
        return None, f"knows none of these genres (it knows {', '.join(info.classes)})"
    overlap = "" if len(known) == len(test.classes) else f"the genres it knows ({', '.join(known)})"
    level: Level = "track" if info.level == "track" else "slice"
    if level == test.level:
        if not overlap:
            return test, ""
        return test.subset(np.isin(test.y, [test.classes.index(c) for c in known])), f"the test tracks of {overlap}"
    if table is None:
        return None, f"trained on {info.level} rows"
    tracks = table[table["track_id"].astype(str).isin(set(test.groups)) & table["label"].isin(known)]
    try:
        return (training_rows(tracks, level, tuple(known)),
                f"the test tracks' {level} rows" + (f", only those of {overlap}" if overlap else ""))
    except FeatureTableError:
        return None, f"trained on {info.level} rows, which this table does not have"


def train_holdout(config: TrainConfig, table: pd.DataFrame, protocol: str, *, classes: tuple[str, ...] | None = None,
                  callbacks: Iterable[EpochListener] = (), stop: StopFlag | None = None, source: str = "",
                  compare: bool = True) -> HoldoutResult:
    """Split ``table`` under ``protocol``, train on the training part (listeners, stop flag), test the rest."""
    rows = training_rows(table, config.level, classes)
    train_index, test_index = split(rows, protocol, config.seed)
    model, history = train(config, rows.subset(train_index), callbacks=callbacks, stop=stop)
    test = rows.subset(test_index)
    report = score(predict_proba(model, test.x), test, rows.classes, protocol, config, source)
    comparison = compare_registry(test, protocol, config, table) if compare else []
    return HoldoutResult(model, config, history, report, test, comparison)

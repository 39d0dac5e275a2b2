"""The pre-trained-tagger recipe: audio folders -> patch features -> calibrated linear head -> model + card.

:func:`train_transfer` builds (or reuses) the patch table of :mod:`core.models.transfer_data`, measures the
recipe with track-grouped stratified folds (every fold trains on the clean and augmented patches of
its training tracks and predicts the clean patches of its held-out tracks), fits the temperature on
those held-out predictions (cross-fitted, so the reported expected calibration error is honest), then
fits the head on every track and returns the deployable Keras model with its card.
Nothing random is left unseeded: the same data and recipe give the same weights.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.special import softmax
from sklearn.model_selection import StratifiedGroupKFold

from core.data.augment import RECORDED_CHAIN
from core.data.dataset import Track
from core.data.training_data import track_average
from core.features.schema import SEED, genre_order
from core.models.calibration import expected_calibration_error, fit_honesty
from core.models.evaluate import metrics
from core.models.model_card import Architecture, Calibration, Dataset, FeatureStats, Metrics, ModelCard, Protocol, SchemaRef, Training, now
from core.models.music_detector import MusicDetector, fit_music_detector
from core.models.train import Stages
from core.models.transfer import backbone_model, fit_linear_head, fit_temperature, linear_head_model, transfer_model
from core.models.transfer_data import CachedTables, EmbeddingSpec, collect_tracks, embedding_table, nonmusic_table

ARCHITECTURE = "musicnn_linear"
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
RECORDED_PATCHES = 4  # windows of each track's recorded copy the music detector learns from
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TransferRecipe:
    """Everything that decides a model of this recipe (stored in its card)."""

    spec: EmbeddingSpec = field(default_factory=EmbeddingSpec)
    c: tuple[float, ...] = C_GRID  # inverse L2 strengths tried; the best by held-out balanced log-loss is kept
    folds: int = 5
    balanced: bool = True
    honesty_variants: int = 2  # augmented copies the calibration reads when the head trains on none
    nonmusic_per_kind: int = 0  # generated non-music clips per kind for the music detector (0: no detector)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec.to_dict(), "c": list(self.c), "folds": self.folds, "balanced": self.balanced,
                "honesty_variants": self.honesty_variants,
                **({"nonmusic_per_kind": self.nonmusic_per_kind} if self.nonmusic_per_kind else {})}

    def honesty_spec(self) -> EmbeddingSpec:
        """The patches the calibration and the novelty threshold are fitted on: the head's, with augmented
        copies (:attr:`honesty_variants`) when the head trains on clean audio only."""
        return self.spec if self.spec.variants else replace(self.spec, variants=self.honesty_variants)


@dataclass
class PatchData:
    """The patch table as arrays: features, label index, track id and augmentation variant per patch."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    variant: np.ndarray
    classes: tuple[str, ...]

    @classmethod
    def of(cls, table: pd.DataFrame, spec: EmbeddingSpec) -> "PatchData":
        classes = genre_order(table["label"])
        index = {c: i for i, c in enumerate(classes)}
        return cls(table[spec.columns()].to_numpy(np.float32), table["label"].map(index).to_numpy(np.int64),
                   table["track_id"].astype(str).to_numpy(), table["variant"].to_numpy(), classes)

    def select(self, rows: np.ndarray) -> "PatchData":
        return PatchData(self.x[rows], self.y[rows], self.groups[rows], self.variant[rows], self.classes)

    def track_labels(self, tracks: np.ndarray) -> np.ndarray:
        first = pd.Series(self.y, index=self.groups).groupby(level=0).first()
        return first.loc[tracks].to_numpy()


def track_folds(data: PatchData, recipe: TransferRecipe) -> list[tuple[np.ndarray, np.ndarray]]:
    """The recipe's track-grouped stratified folds: (training track ids, held-out track ids) per fold."""
    tracks = np.unique(data.groups)
    track_y = data.track_labels(tracks)
    folds = min(recipe.folds, int(np.bincount(track_y).min()))
    if folds < 2:
        raise ValueError("Every genre needs at least two tracks to measure the recipe on held-out tracks.")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=recipe.spec.seed)
    return [(tracks[a], tracks[b]) for a, b in splitter.split(tracks, track_y, tracks)]


def cross_validate(data: PatchData, recipe: TransferRecipe, c: float, progress: Progress | None = None) -> dict[str, Any]:
    """Out-of-fold verdicts of the recipe with inverse L2 strength ``c`` on every track; metrics before and
    after calibration."""
    tracks = np.unique(data.groups)
    track_y = data.track_labels(tracks)
    splits = track_folds(data, recipe)
    folds = len(splits)
    clean = data.variant == 0
    logits = np.zeros((len(data.y), len(data.classes)))
    fold_of = pd.Series(0, index=tracks)
    heads = []
    for k, (train_t, test_t) in enumerate(splits):
        train_rows = np.isin(data.groups, train_t)
        test_rows = np.isin(data.groups, test_t) & clean
        head = fit_linear_head(data.x[train_rows], data.y[train_rows], len(data.classes), c, recipe.balanced)
        logits[test_rows] = head.logits(data.x[test_rows])
        heads.append(head)
        fold_of[test_t] = k
    held_logits, held_y, held_groups = logits[clean], data.y[clean], data.groups[clean]
    _, _, raw = track_average(held_groups, held_y, softmax(held_logits, axis=1))
    # Cross-fitted temperature: each fold's verdicts are calibrated with a temperature fitted on the others.
    calibrated = np.zeros_like(raw)
    fold_rows = fold_of.loc[held_groups].to_numpy()
    for k in range(folds):
        other, inside = fold_rows != k, fold_rows == k
        fit_t = fit_temperature(held_logits[other], held_y[other], held_groups[other])
        _, _, calibrated[fold_of.to_numpy() == k] = track_average(held_groups[inside], held_y[inside],
                                                       softmax(held_logits[inside] / fit_t, axis=1))
    temperature = fit_temperature(held_logits, held_y, held_groups)

    def ece(probs: np.ndarray) -> float:
        return expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == track_y)

    report = metrics(track_y, calibrated, data.classes)
    nll = -np.log(np.clip(calibrated[np.arange(len(track_y)), track_y], 1e-12, None))
    balanced_nll = float(np.mean([nll[track_y == k].mean() for k in np.unique(track_y)]))
    if progress is not None:
        progress(f"C={c:g}: held-out balanced log-loss {balanced_nll:.3f}, balanced accuracy "
                 f"{report['balanced_accuracy']:.3f}")
    protocol = (f"track: {folds} stratified folds grouped by track (seed {recipe.spec.seed}); trained on clean + "
                "augmented patches, tested on the clean patches of held-out tracks")
    return {"c": c, "balanced_log_loss": balanced_nll, "protocol": protocol,
            "tracks": report, "ece": ece(calibrated), "ece_uncalibrated": ece(raw), "temperature": temperature,
            "folds": splits, "heads": heads}


def _fingerprint(data: PatchData) -> str:
    h = hashlib.sha256()
    h.update("\n".join(f"{g}\t{c}" for g, c in zip(*np.unique(data.groups, return_counts=True))).encode())
    h.update(np.ascontiguousarray(data.x, dtype="<f4").tobytes())
    return "sha256:" + h.hexdigest()


def genre_description(seed_rows: pd.DataFrame, classes: tuple[str, ...]) -> FeatureStats:
    """Per-genre seed-feature statistics of the training tracks (what explanations compare a clip with)."""
    from core.data.training_data import TrainingRows

    index = {c: i for i, c in enumerate(classes)}
    rows = TrainingRows(SEED, "slice", classes, seed_rows[list(SEED.columns)].to_numpy(np.float32),
                        seed_rows["label"].map(index).to_numpy(np.int64), seed_rows["track_id"].to_numpy(str),
                        seed_rows)
    return FeatureStats.of(rows)


def train_transfer(sources: list[str | os.PathLike], recipe: TransferRecipe, *, cache: Path | None = None,
                   workers: int = 1, evaluate: bool = True, limit: int | None = None, genres: tuple[str, ...] | None = None,
                   progress: Progress | None = None, stages: Stages | None = None, command: str = "",
                   source: str | None = None) -> tuple[Any, ModelCard]:
    """(deployable Keras model, its card) of the recipe trained on every track of ``sources`` (``genres``: only
    those; ``limit``: only the first tracks of each genre; ``source``: what the card names as the data, default
    the paths). A track that cannot be read is left out, and ``progress`` hears it (``skipped PATH: reason``).
    ``stages`` hears each step (patch features track by track, each C's held-out folds, ...) and may stop the run
    (:class:`TrainingStopped`)."""
    t0 = time.perf_counter()
    stages = stages or Stages()
    tracks = collect_tracks(sources, limit, genres)
    say = progress or (lambda _: None)
    say(f"{len(tracks)} tracks from {len(sources)} source(s); patch features ...")
    honest = evaluate and recipe.folds > 1 and list(recipe.spec.outputs) == ["logits"]  # a tag-reading model
    spec = recipe.honesty_spec() if honest else recipe.spec
    total = len(tracks) * (2 if cache is not None and spec.variants else 1)  # the cache makes clean, then augmented
    read = iter(range(1, total + 1))
    stages.step("patches", 0, total)

    def track_read(_: str) -> None:
        stages.step("patches", next(read, total), total)

    if cache is not None:
        table, seed_rows, failed = CachedTables(Path(cache), spec, tracks).load_or_build(workers=workers,
                                                                                       progress=track_read)
    else:
        table, seed_rows, failed = embedding_table(tracks, spec, workers=workers, progress=track_read)
    stages.step("patches", total, total)
    for row in failed.itertuples():
        say(f"skipped {row.path}: {row.reason}")
    tracks = [t for t in tracks if t.track_id not in set(failed["track_id"])]
    every = PatchData.of(table, spec)
    data = every.select(every.variant <= recipe.spec.variants)
    evaluation, tried = None, {}
    if evaluate and recipe.folds > 1:
        stages.step("folds", 0, len(recipe.c))
        for done, c in enumerate(recipe.c, start=1):  # ties keep the stronger regularisation (the grid is ascending)
            found = cross_validate(data, recipe, c, say)
            tried[c] = {"balanced_log_loss": found["balanced_log_loss"],
                        "balanced_accuracy": found["tracks"]["balanced_accuracy"]}
            stages.step("folds", done, len(recipe.c), {"c": c, **tried[c]})
            if evaluation is None or found["balanced_log_loss"] < evaluation["balanced_log_loss"] - 1e-9:
                evaluation = found
    elif len(recipe.c) != 1:
        raise ValueError("Choosing C among several values needs held-out folds (--evaluate track).")
    c = evaluation["c"] if evaluation else recipe.c[0]
    head = fit_linear_head(data.x, data.y, len(data.classes), c, recipe.balanced)
    temperature = evaluation["temperature"] if evaluation else 1.0
    reliability = {}
    if honest and evaluation is not None:
        stages.step("honesty", 0, 1)
        say("calibration, novelty threshold and closest songs on held-out tracks ...")
        reliability = fit_honesty(every.x, every.y, every.groups, every.variant, evaluation["folds"],
                                  [h.logits for h in evaluation["heads"]], temperature, recipe.spec.seed, data.classes)
        stages.step("honesty", 1, 1)
    model = transfer_model(linear_head_model(head, temperature), backbone_model(recipe.spec.backbones, recipe.spec.outputs),
                           name=ARCHITECTURE)
    tracks_per_class = {c: int(len(set(data.groups[data.y == i]))) for i, c in enumerate(data.classes)}
    if recipe.nonmusic_per_kind:
        stages.step("music", 0, 1)
        reliability["music"] = music_detector_for(data, tracks, recipe, cache, workers, say).to_dict()
    stages.step("final", 1, 1)
    card = ModelCard(
        name="", created=now(),
        architecture=Architecture(ARCHITECTURE, {**recipe.to_dict(), "c_chosen": c,
                                                 "c_tried": {f"{k:g}": v for k, v in tried.items()}},
                                  int(model.count_params())),
        inputs=("musicnn",), feature_schema=SchemaRef.of(SEED), level="slice", segment_seconds=3.0,
        classes=tuple(data.classes), command=command,
        training=Training(recipe.to_dict(), round(time.perf_counter() - t0, 1), patches=int(len(data.y)),
                          augmented_patches=int((data.variant > 0).sum())),
        protocol=Protocol("track", evaluation["protocol"], folds=recipe.folds) if evaluation else None,
        metrics=Metrics(evaluation["tracks"], ece=evaluation["ece"],
                        ece_uncalibrated=evaluation["ece_uncalibrated"]) if evaluation else None,
        calibration=Calibration("temperature scaling on held-out folds", temperature),
        dataset=Dataset((source,) if source else tuple(str(s) for s in sources), _fingerprint(data), len(tracks),
                        tracks_per_class),
        feature_stats=genre_description(seed_rows, data.classes), reliability=reliability)
    return model, card


def music_detector_for(data: PatchData, tracks: list[Track], recipe: TransferRecipe, cache: Path | None, workers: int,
                       say: Progress) -> MusicDetector:
    """The music detector of a tag-reading recipe: its training tracks' patches, and those of one recorded
    copy of each (:data:`RECORDED_CHAIN`: quiet, in a room), against the generated non-music battery (seeded
    by the recipe), with cross-validated rates."""
    if list(recipe.spec.outputs) != ["logits"]:
        raise ValueError("The music detector reads tag logits: use it with --outputs logits.")
    folds = min(recipe.folds, int(np.bincount(data.track_labels(np.unique(data.groups))).min()))
    if folds < 2:
        raise ValueError("The music detector needs at least two tracks per genre (held-out folds).")
    say(f"non-music battery ({recipe.nonmusic_per_kind} clips per kind) ...")
    other = nonmusic_table(recipe.spec, seed=recipe.spec.seed, per_kind=recipe.nonmusic_per_kind, cache=cache)
    say("recorded copies of the tracks ...")
    spec = replace(recipe.spec, variants=1, chain=RECORDED_CHAIN, augmented_patches=RECORDED_PATCHES)
    table = (CachedTables(cache, spec, tracks).load_or_build(workers=workers).table if cache is not None
             else embedding_table(tracks, spec, variants=range(1, 2), workers=workers).table)
    recorded = PatchData.of(table[table["variant"] == 1], spec)
    index = {c: i for i, c in enumerate(data.classes)}
    recorded_y = np.array([index[recorded.classes[k]] for k in recorded.y])
    detector = fit_music_detector(np.vstack([data.x, recorded.x]), np.r_[data.groups, recorded.groups],
                                  np.r_[data.y, recorded_y], other[recipe.spec.columns()].to_numpy(),
                                  other["clip"].to_numpy(), other["family"].to_numpy(),
                                  music_recorded=np.r_[np.zeros(len(data.y), bool), np.ones(len(recorded.y), bool)],
                                  folds=folds, seed=recipe.spec.seed)
    r = detector.rates
    say(f"music detector (held out): {r['music_tracks_flagged']:.1%} of music tracks flagged, "
        f"{r['recorded_music_flagged']:.1%} of their recorded copies, {r['nonmusic_clips_flagged']:.1%} of non-music "
        "clips flagged")
    return detector


def recipe_from_args(backbones: list[str], outputs: list[str], variants: int, c: list[float] | None, seed: int,
                     folds: int = 5, hop_s: float = 3.0, nonmusic_per_kind: int = 0) -> TransferRecipe:
    """A recipe from command-line values (``c`` None: :data:`C_GRID`; the rest at their defaults)."""
    spec = EmbeddingSpec(backbones=tuple(backbones), outputs=tuple(outputs), variants=variants, seed=seed, hop_s=hop_s)
    return TransferRecipe(spec=spec, c=tuple(sorted(c or C_GRID)), folds=folds, nonmusic_per_kind=nonmusic_per_kind)


"""Confidence that means what it says on music the model has never heard, fitted on GTZAN alone.

The network's own probability (a temperature-scaled softmax, fitted on clean held-out GTZAN tracks) is
over-confident on songs recorded elsewhere: modern production, 7-s previews, songs far from any training
track. :func:`held_out_verdicts` imitates that on GTZAN: in track-grouped folds, a head trained without a
fold classifies that fold's tracks clean and in their augmented copies (loudness, compression, EQ, MP3,
fold-down, crops: :mod:`core.data.augment`), whole and as short crops of two windows (a 7-s preview), and
measures each one's distance to the training tracks (:mod:`core.models.neighbours`).

:class:`Calibration` is a logistic regression fitted on those held-out verdicts: from the verdict's
probability, its lead over the runner-up, the number of windows heard and the distance to the training
songs, the chance that the verdict is right. :meth:`Calibration.apply` makes that the verdict's shown
probability and rescales the other genres to share the rest, keeping their order (so the verdict and the
top 3 never change). The *sure* threshold (the genre in large type) is the lowest confidence at which the
held-out verdicts shown as sure are at most :data:`MAX_SURE_WRONG` wrong. Genres weigh equally (GTZAN has
100 rock tracks but 10 pop), as in the head, and so do the clean audio and its augmented copies (on GTZAN
proxies this keeps every kind of held-out version within an ECE of 0.06).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.special import expit, softmax

from core.data.training_data import track_average
from core.models.neighbours import NOVELTY_QUANTILE, NeighbourIndex, Novelty, novelty_threshold

FEATURES = ("log-odds of the verdict", "log ratio of the top two", "log windows heard", "distance to training songs")
MAX_SURE_WRONG = 0.10
ECE_BINS = 10
CROP_WINDOWS = 2  # a 7-s preview holds two 3-s windows
CROPS = 3  # short crops per held-out track version
_EPS = 1e-6

Logits = Callable[[np.ndarray], np.ndarray]  # a fold's head: patch features -> logits


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the size-weighted mean |accuracy - confidence| over equal-width
    confidence bins (Guo et al., 2017)."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    if not len(confidence):
        return float("nan")
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total / len(confidence))


def features(probabilities: np.ndarray, windows: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """The calibration's inputs (:data:`FEATURES`) for track probabilities ``(n, n_classes)``."""
    ordered = np.sort(np.atleast_2d(np.asarray(probabilities, dtype=np.float64)), axis=1)
    p1 = np.clip(ordered[:, -1], _EPS, 1 - _EPS)
    p2 = np.clip(ordered[:, -2] if ordered.shape[1] > 1 else 1 - p1, _EPS, None)
    return np.column_stack([np.log(p1 / (1 - p1)), np.log(p1 / p2), np.log(np.maximum(np.asarray(windows, float), 1)),
                            np.asarray(distance, dtype=np.float64)])


def rescaled(probabilities: np.ndarray, confidence: float) -> np.ndarray:
    """``probabilities`` with the top genre at ``confidence`` (at least the runner-up's share, so the order
    holds) and the others sharing the rest in their old proportions."""
    p = np.asarray(probabilities, dtype=np.float64)
    top = int(np.argmax(p))
    rest = p.copy()
    rest[top] = 0.0
    rest = rest / rest.sum() if rest.sum() > 0 else np.where(np.arange(len(p)) == top, 0.0, 1.0 / max(len(p) - 1, 1))
    runner_up = rest.max() if len(p) > 1 else 0.0
    q = float(np.clip(max(confidence, runner_up / (1 + runner_up) + _EPS), 0.0, 1.0))  # the verdict stays on top
    out = rest * (1 - q)
    out[top] = q
    return out


@dataclass(frozen=True)
class Calibration:
    """P(verdict right) = sigmoid(features . coef + intercept); ``sure``: the fitted large-type threshold."""

    coef: tuple[float, ...]
    intercept: float
    sure: float
    max_sure_wrong: float = MAX_SURE_WRONG

    def confidence(self, probabilities: np.ndarray, windows: np.ndarray | int, distance: np.ndarray | float) -> np.ndarray:
        """The calibrated chance that each verdict is right."""
        f = features(probabilities, np.atleast_1d(windows), np.atleast_1d(distance))
        return expit(f @ np.asarray(self.coef) + self.intercept)

    def apply(self, probabilities: np.ndarray, windows: int, distance: float) -> np.ndarray:
        """One track's probabilities with the calibrated confidence on the verdict (:func:`rescaled`)."""
        return rescaled(probabilities, float(self.confidence(probabilities, windows, distance)[0]))

    def to_dict(self) -> dict[str, Any]:
        return {"method": "logistic regression of held-out GTZAN verdicts (clean and augmented, whole and "
                          f"{CROP_WINDOWS}-window crops) being right; genres weigh equally",
                "features": list(FEATURES), "coef": [round(c, 6) for c in self.coef],
                "intercept": round(self.intercept, 6), "sure": round(self.sure, 4), "max_sure_wrong": self.max_sure_wrong}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        return cls(tuple(float(c) for c in d["coef"]), float(d["intercept"]), float(d["sure"]),
                   float(d.get("max_sure_wrong", MAX_SURE_WRONG)))


@dataclass(frozen=True)
class Honesty:
    """What a model's card says about how far to trust it (``reliability``): the calibration and the index of
    training songs (novelty and closest songs). Models without them (other architectures) get ``None``s."""

    calibration: Calibration | None = None
    index: NeighbourIndex | None = None

    @classmethod
    def of(cls, reliability: dict[str, Any]) -> Honesty:
        """From a card's ``reliability`` entries."""
        return cls(Calibration.from_dict(reliability["calibration"]) if "calibration" in reliability else None,
                   NeighbourIndex.from_dict(reliability["novelty"]) if "novelty" in reliability else None)

    def read(self, probabilities: np.ndarray, tags: np.ndarray | None) -> tuple[np.ndarray, Novelty | None]:
        """(the probabilities to show: calibrated when the model has a calibration, the recording's novelty)
        for a track's mean ``probabilities`` and its windows' tag vectors ``tags`` ``(n_windows, n_tags)``."""
        if self.index is None or tags is None or not len(tags):
            return probabilities, None
        novelty = self.index.novelty(tags)
        if self.calibration is None:
            return probabilities, novelty
        return self.calibration.apply(probabilities, len(tags), novelty.distance), novelty


@dataclass(frozen=True, eq=False)
class HeldOut:
    """Verdicts on held-out GTZAN track versions (one row each)."""

    probabilities: np.ndarray  # (n, n_classes) mean of the windows' probabilities
    windows: np.ndarray  # windows heard
    distance: np.ndarray  # to the fold's training tracks (:meth:`NeighbourIndex.distance`)
    y: np.ndarray  # true genre index
    fold: np.ndarray
    variant: np.ndarray  # 0: the clean audio, else an augmented copy
    crop: np.ndarray  # bool: a short crop
    weight: np.ndarray  # genres weigh equally, clean and augmented audio too; a version's crops as the whole

    @property
    def correct(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1) == self.y

    def features(self) -> np.ndarray:
        return features(self.probabilities, self.windows, self.distance)

    def select(self, rows: np.ndarray) -> HeldOut:
        return HeldOut(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


def held_out_verdicts(x: np.ndarray, y: np.ndarray, groups: np.ndarray, variant: np.ndarray,
                      folds: list[tuple[np.ndarray, np.ndarray]], heads: list[Logits], temperature: float,
                      seed: int) -> HeldOut:
    """Every held-out version of every track in ``folds`` ((training tracks, held-out tracks) pairs): whole and
    :data:`CROPS` crops of :data:`CROP_WINDOWS` consecutive windows, classified by the fold's head (trained
    without it: ``heads[k]``) with the deployed ``temperature``, and its distance to the fold's training tracks."""
    rng = np.random.default_rng(seed)
    copies = max(int(variant.max()), 1)  # the clean audio weighs as much as its augmented copies together
    parts: dict[str, list] = {k: [] for k in HeldOut.__dataclass_fields__}
    for k, ((train_t, test_t), logits) in enumerate(zip(folds, heads)):
        clean = np.isin(groups, train_t) & (variant == 0)
        ids, _, vectors = track_average(groups[clean], y[clean], x[clean])
        index = NeighbourIndex.build(vectors, ids, ids)
        for track in np.sort(test_t):
            rows = np.flatnonzero(groups == track)
            for v in np.unique(variant[rows]):
                version = rows[variant[rows] == v]
                probs = softmax(logits(x[version]) / temperature, axis=1)
                starts = rng.integers(0, max(len(version) - CROP_WINDOWS, 0) + 1, size=CROPS)
                pieces = [np.arange(len(version))] + [np.arange(s, min(s + CROP_WINDOWS, len(version))) for s in starts]
                for i, piece in enumerate(pieces):
                    parts["probabilities"].append(probs[piece].mean(axis=0))
                    parts["windows"].append(len(piece))
                    parts["distance"].append(index.distance(x[version][piece]))
                    parts["y"].append(y[version[0]])
                    parts["fold"].append(k)
                    parts["variant"].append(v)
                    parts["crop"].append(i > 0)
                    parts["weight"].append((1.0 if i == 0 else 1.0 / CROPS) * (copies if v == 0 else 1.0))
    found = {k: np.asarray(v) for k, v in parts.items()}
    counts = np.bincount(found["y"], weights=found["weight"])
    found["weight"] = found["weight"] * (counts.sum() / len(counts[counts > 0])) / counts[found["y"]]
    return HeldOut(**found)


def fit_calibration(held: HeldOut, confidence_for_sure: np.ndarray | None = None) -> Calibration:
    """The logistic regression of ``held`` verdicts being right, and the sure threshold from
    ``confidence_for_sure`` (cross-fitted confidences of the same verdicts; default: this fit's own)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000).fit(held.features(), held.correct, sample_weight=held.weight)
    fitted = Calibration(tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]), 1.0)
    conf = fitted.confidence(held.probabilities, held.windows, held.distance) if confidence_for_sure is None \
        else confidence_for_sure
    return Calibration(fitted.coef, fitted.intercept, sure_threshold(conf, held.correct, held.weight))


def sure_threshold(confidence: np.ndarray, correct: np.ndarray, weight: np.ndarray,
                   max_wrong: float = MAX_SURE_WRONG) -> float:
    """The lowest confidence at which the verdicts at or above it are at most ``max_wrong`` wrong (weighted);
    1.0 when none is (then nothing is shown as sure)."""
    order = np.argsort(-confidence, kind="stable")
    wrong = np.cumsum(weight[order] * ~correct[order]) / np.cumsum(weight[order])
    ok = np.flatnonzero(wrong <= max_wrong)
    return float(confidence[order][ok[-1]]) if len(ok) else 1.0


def cross_fitted(held: HeldOut) -> np.ndarray:
    """Each held-out verdict's calibrated confidence from a calibration fitted without its fold."""
    out = np.zeros(len(held.y))
    for k in np.unique(held.fold):
        inside = held.fold == k
        cal = fit_calibration(held.select(~inside))
        out[inside] = cal.confidence(held.probabilities[inside], held.windows[inside], held.distance[inside])
    return out


def held_out_report(held: HeldOut, confidence: np.ndarray, sure: float, novelty: np.ndarray) -> dict[str, Any]:
    """Cross-fitted measurements for the card: ECE, sure-but-wrong and novelty rates by kind of version."""
    kinds = {"clean tracks": (held.variant == 0) & ~held.crop, "augmented tracks": (held.variant > 0) & ~held.crop,
             f"{CROP_WINDOWS}-window crops": held.crop, "all": np.ones(len(held.y), bool)}
    correct = held.correct
    report = {}
    for name, rows in kinds.items():
        if not rows.any():
            continue
        sure_rows = rows & (confidence >= sure)
        report[name] = {
            "n": int(rows.sum()), "accuracy": float(correct[rows].mean()),
            "ece": expected_calibration_error(confidence[rows], correct[rows]),
            "ece_uncalibrated": expected_calibration_error(held.probabilities[rows].max(axis=1), correct[rows]),
            "mean_confidence": float(confidence[rows].mean()),
            "sure": float(sure_rows.sum() / rows.sum()),
            "sure_wrong": float((~correct[sure_rows]).mean()) if sure_rows.any() else None,
            "novel": float(novelty[rows].mean())}
    return report


def cross_fitted_novelty(held: HeldOut, quantile: float) -> np.ndarray:
    """Whether each held-out verdict is flagged novel by a threshold fitted on the other folds' distances."""
    out = np.zeros(len(held.y), bool)
    for k in np.unique(held.fold):
        inside = held.fold == k
        out[inside] = held.distance[inside] > novelty_threshold(held.distance[~inside], quantile)
    return out


def fit_honesty(x: np.ndarray, y: np.ndarray, groups: np.ndarray, variant: np.ndarray,
                folds: list[tuple[np.ndarray, np.ndarray]], heads: list[Logits], temperature: float, seed: int,
                classes: tuple[str, ...], quantile: float = NOVELTY_QUANTILE) -> dict[str, Any]:
    """The card's ``reliability`` entries of a tag-reading model: ``calibration`` (:class:`Calibration` with its
    cross-fitted held-out measurements) and ``novelty`` (the :class:`NeighbourIndex` of every clean training
    track, with the novelty threshold fitted on held-out distances). Same data and seed: same result."""
    held = held_out_verdicts(x, y, groups, variant, folds, heads, temperature, seed)
    confidence = cross_fitted(held)
    calibration = fit_calibration(held, confidence)
    clean = variant == 0
    ids, labels, vectors = track_average(groups[clean], y[clean], x[clean])
    index = NeighbourIndex.build(vectors, ids, [classes[i] for i in labels]).with_threshold(
        novelty_threshold(held.distance, quantile), quantile)
    report = held_out_report(held, confidence, calibration.sure, cross_fitted_novelty(held, quantile))
    return {"calibration": {**calibration.to_dict(), "held_out": report}, "novelty": index.to_dict()}

"""Confidence that means what it says on music the model has never heard, fitted on GTZAN alone.

The network's own probability (a temperature-scaled softmax, fitted on clean held-out GTZAN tracks) is
over-confident on songs recorded elsewhere: modern production, 7-s previews, songs far from any training
track. :func:`held_out_verdicts` imitates that on GTZAN: in track-grouped folds, a head trained without a
fold classifies that fold's tracks clean and in their augmented copies (loudness, compression, EQ, MP3,
fold-down, crops: :mod:`core.data.augment`), whole and as short crops of two windows (a 7-s preview), and
measures each one's distance to the training tracks (:mod:`core.models.neighbours`).

:class:`Calibration` holds one logistic regression per verdict size (a verdict names one, two or three
genres: :mod:`core.verdict`), fitted on those held-out verdicts: from the top k genres' probability together,
the k-th genre's lead over the next, the number of windows heard and the distance to the training songs, the
chance that the true genre is among the top k. The verdict then says what it can say with at most
:data:`MAX_SURE_WRONG` of held-out verdicts wrong: one genre at or above the fitted *sure* threshold, else
two at or above the fitted *pair* threshold, else three, each with its chance, so the number next to the
sentence is the chance that the sentence is right. :meth:`Calibration.apply` also puts the top genre's
chance on the genre bars and rescales the other genres to share the rest, keeping their order (so the
verdict and the top 3 never change). Genres weigh equally (GTZAN has 100 rock tracks but 10 pop), as in the
head, and so do the clean audio and its augmented copies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
from scipy.special import expit, softmax

from core.data.training_data import track_average
from core.models.neighbours import NOVELTY_QUANTILE, NeighbourIndex, Novelty, novelty_threshold
from core.verdict import genres_named

FEATURES = ("log-odds of the top k genres together", "log ratio of the k-th genre to the next", "log windows heard",
            "distance to training songs")
CLAIMS = 3  # a verdict names one, two or three genres (core.verdict)
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


def features(probabilities: np.ndarray, windows: np.ndarray, distance: np.ndarray, k: int = 1) -> np.ndarray:
    """The inputs (:data:`FEATURES`) of the chance that the true genre is among the top ``k`` genres, for track
    probabilities ``(n, n_classes)`` with more than ``k`` classes."""
    ordered = -np.sort(-np.atleast_2d(np.asarray(probabilities, dtype=np.float64)), axis=1)
    mass = np.clip(ordered[:, :k].sum(axis=1), _EPS, 1 - _EPS)
    kth, following = np.clip(ordered[:, k - 1], _EPS, None), np.clip(ordered[:, k], _EPS, None)
    return np.column_stack([np.log(mass / (1 - mass)), np.log(kth / following),
                            np.log(np.maximum(np.asarray(windows, float), 1)), np.asarray(distance, dtype=np.float64)])


def claims(n_classes: int) -> int:
    """How many verdict sizes (1 .. :data:`CLAIMS` genres) need a fitted chance: naming every genre is sure."""
    return max(min(CLAIMS, n_classes - 1), 0)


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
    """The chance that the true genre is among the top k genres, k = 1 .. :data:`CLAIMS`: per k,
    sigmoid(features_k . coef[k-1] + intercept[k-1]). ``sure`` and ``pair``: the fitted thresholds at which a
    verdict names one genre, or two (:func:`core.verdict.verdict`)."""

    coef: tuple[tuple[float, ...], ...]
    intercept: tuple[float, ...]
    sure: float
    pair: float
    max_sure_wrong: float = MAX_SURE_WRONG

    def chances(self, probabilities: np.ndarray, windows: np.ndarray | int, distance: np.ndarray | float) -> np.ndarray:
        """``(n, CLAIMS)``: the calibrated chance that each track's true genre is among its top 1, 2, 3 genres
        (never smaller for more genres; 1 where they are all the genres there are)."""
        p = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
        out = np.ones((len(p), CLAIMS))
        for k, (coef, b) in enumerate(zip(self.coef, self.intercept), start=1):
            out[:, k - 1] = expit(features(p, np.atleast_1d(windows), np.atleast_1d(distance), k) @ np.asarray(coef) + b)
        return np.maximum.accumulate(out, axis=1)

    def apply(self, probabilities: np.ndarray, windows: int, distance: float) -> tuple[np.ndarray, np.ndarray]:
        """One track's (probabilities with the calibrated confidence on the top genre (:func:`rescaled`), its
        chances (:meth:`chances`))."""
        chance = self.chances(probabilities, windows, distance)[0]
        return rescaled(probabilities, float(chance[0])), chance

    def to_dict(self) -> dict[str, Any]:
        return {"method": "logistic regressions of held-out GTZAN verdicts (clean and augmented, whole and "
                          f"{CROP_WINDOWS}-window crops) naming 1, 2 or 3 genres being right; genres weigh equally",
                "features": list(FEATURES),
                "claims": [{"genres": k, "coef": [round(c, 6) for c in coef], "intercept": round(b, 6)}
                           for k, (coef, b) in enumerate(zip(self.coef, self.intercept), start=1)],
                "sure": round(self.sure, 4), "pair": round(self.pair, 4), "max_sure_wrong": self.max_sure_wrong}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        return cls(tuple(tuple(float(c) for c in claim["coef"]) for claim in d["claims"]),
                   tuple(float(claim["intercept"]) for claim in d["claims"]), float(d["sure"]), float(d["pair"]),
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

    def read(self, probabilities: np.ndarray, tags: np.ndarray | None
             ) -> tuple[np.ndarray, Novelty | None, np.ndarray | None]:
        """(the probabilities to show, the recording's novelty, the calibrated chances of its top 1, 2, 3 genres)
        for a track's mean ``probabilities`` and its windows' tag vectors ``tags`` ``(n_windows, n_tags)``; the
        network's own probabilities and no chances where the model has no calibration."""
        if self.index is None or tags is None or not len(tags):
            return probabilities, None, None
        novelty = self.index.novelty(tags)
        if self.calibration is None:
            return probabilities, novelty, None
        shown, chance = self.calibration.apply(probabilities, len(tags), novelty.distance)
        return shown, novelty, chance


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

    def right(self, k: int) -> np.ndarray:
        """Whether the true genre is among each verdict's top ``k`` genres."""
        top = np.argsort(-self.probabilities, axis=1, kind="stable")[:, :k]
        return (top == self.y[:, None]).any(axis=1)

    def features(self, k: int = 1) -> np.ndarray:
        return features(self.probabilities, self.windows, self.distance, k)

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


def fit_calibration(held: HeldOut, chances_for_thresholds: np.ndarray | None = None) -> Calibration:
    """One logistic regression per verdict size k (the true genre among the top k of the ``held`` verdicts), and
    the thresholds from ``chances_for_thresholds`` (cross-fitted chances of the same verdicts; default: this
    fit's own): ``sure`` where one-genre verdicts are at most :data:`MAX_SURE_WRONG` wrong, ``pair`` where the
    two-genre verdicts of the rest are."""
    from sklearn.linear_model import LogisticRegression

    coef, intercept = [], []
    for k in range(1, claims(held.probabilities.shape[1]) + 1):
        right = held.right(k)
        if right.all() or not right.any():  # nothing to tell apart: the observed rate, kept off 0 and 1
            rate = (right.sum() + 0.5) / (len(right) + 1.0)
            coef.append((0.0,) * len(FEATURES))
            intercept.append(float(np.log(rate / (1 - rate))))
            continue
        model = LogisticRegression(C=1.0, max_iter=2000).fit(held.features(k), right, sample_weight=held.weight)
        coef.append(tuple(float(c) for c in model.coef_[0]))
        intercept.append(float(model.intercept_[0]))
    fitted = Calibration(tuple(coef), tuple(intercept), 1.0, 1.0)
    chance = fitted.chances(held.probabilities, held.windows, held.distance) if chances_for_thresholds is None \
        else chances_for_thresholds
    sure = sure_threshold(chance[:, 0], held.correct, held.weight)
    rest = chance[:, 0] < sure
    pair = sure_threshold(chance[rest, 1], held.right(2)[rest], held.weight[rest]) if rest.any() else 1.0
    return replace(fitted, sure=sure, pair=pair)


def said(chance: np.ndarray, sure: float, pair: float) -> tuple[np.ndarray, np.ndarray]:
    """(how many genres each verdict names (:func:`core.verdict.genres_named`), the chance shown with it) for
    chances ``(n, CLAIMS)``."""
    size = genres_named(chance, sure, pair)
    return size, chance[np.arange(len(size)), size - 1]


def sure_threshold(confidence: np.ndarray, correct: np.ndarray, weight: np.ndarray,
                   max_wrong: float = MAX_SURE_WRONG) -> float:
    """The lowest confidence at which the verdicts at or above it are at most ``max_wrong`` wrong (weighted);
    1.0 when none is (then nothing is shown as sure)."""
    order = np.argsort(-confidence, kind="stable")
    wrong = np.cumsum(weight[order] * ~correct[order]) / np.cumsum(weight[order])
    ok = np.flatnonzero(wrong <= max_wrong)
    return float(confidence[order][ok[-1]]) if len(ok) else 1.0


def cross_fitted(held: HeldOut) -> np.ndarray:
    """Each held-out verdict's calibrated chances ``(n, CLAIMS)`` from a calibration fitted without its fold."""
    out = np.zeros((len(held.y), CLAIMS))
    for k in np.unique(held.fold):
        inside = held.fold == k
        cal = fit_calibration(held.select(~inside))
        out[inside] = cal.chances(held.probabilities[inside], held.windows[inside], held.distance[inside])
    return out


def held_out_report(held: HeldOut, chance: np.ndarray, calibration: Calibration, novelty: np.ndarray) -> dict[str, Any]:
    """Cross-fitted measurements for the card by kind of version: ECE of the top genre's confidence and of the
    verdict as worded (one, two or three genres with their chance), how many verdicts name how many genres,
    sure-but-wrong and novelty rates."""
    kinds = {"clean tracks": (held.variant == 0) & ~held.crop, "augmented tracks": (held.variant > 0) & ~held.crop,
             f"{CROP_WINDOWS}-window crops": held.crop, "all": np.ones(len(held.y), bool)}
    correct, confidence = held.correct, chance[:, 0]
    size, shown = said(chance, calibration.sure, calibration.pair)
    right = np.choose(size - 1, [held.right(k) for k in range(1, CLAIMS + 1)])
    report = {}
    for name, rows in kinds.items():
        if not rows.any():
            continue
        sure_rows, pair_rows = rows & (size == 1), rows & (size == 2)
        report[name] = {
            "n": int(rows.sum()), "accuracy": float(correct[rows].mean()),
            "ece": expected_calibration_error(confidence[rows], correct[rows]),
            "ece_uncalibrated": expected_calibration_error(held.probabilities[rows].max(axis=1), correct[rows]),
            "ece_as_worded": expected_calibration_error(shown[rows], right[rows]),
            "right_as_worded": float(right[rows].mean()),
            "mean_confidence": float(confidence[rows].mean()),
            "sure": float(sure_rows.sum() / rows.sum()),
            "sure_wrong": float((~correct[sure_rows]).mean()) if sure_rows.any() else None,
            "pair": float(pair_rows.sum() / rows.sum()),
            "pair_wrong": float((~right[pair_rows]).mean()) if pair_rows.any() else None,
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
    chance = cross_fitted(held)
    calibration = fit_calibration(held, chance)
    clean = variant == 0
    ids, labels, vectors = track_average(groups[clean], y[clean], x[clean])
    index = NeighbourIndex.build(vectors, ids, [classes[i] for i in labels]).with_threshold(
        novelty_threshold(held.distance, quantile), quantile)
    report = held_out_report(held, chance, calibration, cross_fitted_novelty(held, quantile))
    return {"calibration": {**calibration.to_dict(), "held_out": report}, "novelty": index.to_dict()}

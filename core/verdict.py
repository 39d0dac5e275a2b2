"""The verdict in words: a genre when the model is sure, a pair or a shortlist when it is not, and plain words
when the recording is not music or unlike every genre the model knows. Each verdict carries the chance that
it is right *as worded*: for "somewhere between rock and metal", the chance that the song is one of the two.

It reads ``chance``, the chance that the true genre is among the top 1, 2 and 3 genres (calibrated for models
whose card has a calibration: :mod:`core.models.calibration`; else the sums of the model's own top
probabilities), in this order:

- the recording is judged not music -> "This doesn't sound like music";
- it is far from every training song (:mod:`core.models.neighbours`) -> "closest to rock, but unlike the
  genres it knows";
- the top genre's chance is at least ``sure`` (the card's fitted threshold, else :data:`SURE`) -> that genre
  ("Rock");
- else the top two's chance is at least ``pair`` (fitted, else :data:`PAIR`) -> "somewhere between rock and
  country";
- else -> "no clear genre: closest are rock, pop and country" (with the top three's chance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

SURE = 0.6  # for models without fitted thresholds
PAIR = 0.7
NOT_MUSIC = "This doesn't sound like music"


@dataclass(frozen=True)
class Verdict:
    """What to say about a track: the sentence, the genres it names, whether it is a sure call, which of the
    cases it is (``sure``, ``pair``, ``shortlist``, ``novel`` or ``not music``) and the chance that it is right
    as worded (the true genre among ``genres``; None for not music)."""

    text: str
    genres: tuple[str, ...]
    sure: bool
    kind: str
    probability: float | None = None


def top_chances(probabilities: np.ndarray, k: int = 3) -> np.ndarray:
    """The chance that the true genre is among the top 1 .. ``k`` genres, read from ``probabilities`` alone
    (their sorted cumulative sums): what a model without a calibration says."""
    return np.cumsum(np.sort(np.asarray(probabilities, dtype=float))[::-1][:k])


def genres_named(chance: np.ndarray | Sequence[float], sure: float = SURE, pair: float = PAIR) -> np.ndarray:
    """How many genres verdicts name (1, 2 or 3; novelty and "not music" aside) for the chances ``(..., 3)`` that
    the true genre is among their top 1, 2, 3: one at or above ``sure``, else two at or above ``pair``, else three."""
    chance = np.asarray(chance, dtype=float)
    return np.where(chance[..., 0] >= sure, 1, np.where(chance[..., 1] >= pair, 2, 3))


def verdict(probabilities: np.ndarray, classes: tuple[str, ...] | list[str], name: Callable[[str], str] = str, *,
            sure: float = SURE, pair: float = PAIR, chance: np.ndarray | Sequence[float] | None = None, novel: bool = False,
            music: bool | None = None) -> Verdict:
    """The verdict for track ``probabilities`` over ``classes``; ``name`` spells a genre for people; ``chance``:
    the chance that the true genre is among the top 1, 2, 3 (default :func:`top_chances`); ``music`` False: the
    recording was judged not music (None: the model cannot tell)."""
    if music is False:
        return Verdict(NOT_MUSIC, (), False, "not music")
    order = np.argsort(-np.asarray(probabilities, dtype=float), kind="stable")
    top = [classes[i] for i in order[:3]]
    c = [float(v) for v in (top_chances(probabilities) if chance is None else chance)]
    c += [c[-1]] * (3 - len(c))
    if novel:
        return Verdict(f"closest to {name(top[0])}, but unlike the genres it knows", (top[0],), False, "novel", c[0])
    named = min(int(genres_named(c, sure, pair)), len(top))
    if named == 1:
        return Verdict(name(top[0]), (top[0],), True, "sure", c[0])
    if named == 2:
        return Verdict(f"somewhere between {name(top[0])} and {name(top[1])}", tuple(top[:2]), False, "pair", c[1])
    return Verdict("no clear genre: closest are " + ", ".join(map(name, top[:-1])) + f" and {name(top[-1])}",
                   tuple(top), False, "shortlist", c[2])

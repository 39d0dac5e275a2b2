"""The verdict in words: a genre when the model is sure, a pair or a shortlist when it is not, and plain words
when the recording is not music or unlike every genre the model knows.

It reads the probabilities shown (calibrated for models whose card has a calibration:
:mod:`core.models.calibration`), in this order:

- the recording is judged not music -> "This doesn't sound like music";
- it is far from every training song (:mod:`core.models.neighbours`) -> "closest to rock, but unlike the
  genres it knows";
- the top genre has at least ``sure`` (the card's fitted threshold, else :data:`SURE`) -> that genre ("Rock");
- else the top two together have at least :data:`PAIR` -> "somewhere between rock and country";
- else -> "no clear genre: closest are rock, pop and country".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

SURE = 0.6  # for models without a fitted threshold
PAIR = 0.7
NOT_MUSIC = "This doesn't sound like music"


@dataclass(frozen=True)
class Verdict:
    """What to say about a track: the sentence, the genres it names, whether it is a sure call, and which of
    the cases it is (``sure``, ``pair``, ``shortlist``, ``novel`` or ``not music``)."""

    text: str
    genres: tuple[str, ...]
    sure: bool
    kind: str


def verdict(probabilities: np.ndarray, classes: tuple[str, ...] | list[str], name: Callable[[str], str] = str, *,
            sure: float = SURE, novel: bool = False, music: bool | None = None) -> Verdict:
    """The verdict for track ``probabilities`` over ``classes``; ``name`` spells a genre for people; ``music``
    False: the recording was judged not music (None: the model cannot tell)."""
    if music is False:
        return Verdict(NOT_MUSIC, (), False, "not music")
    order = np.argsort(-np.asarray(probabilities, dtype=float), kind="stable")
    top = [classes[i] for i in order[:3]]
    p = [float(probabilities[i]) for i in order[:3]]
    if novel:
        return Verdict(f"closest to {name(top[0])}, but unlike the genres it knows", (top[0],), False, "novel")
    if p[0] >= sure or len(top) == 1:
        return Verdict(name(top[0]), (top[0],), True, "sure")
    if p[0] + p[1] >= PAIR:
        return Verdict(f"somewhere between {name(top[0])} and {name(top[1])}", tuple(top[:2]), False, "pair")
    return Verdict("no clear genre: closest are " + ", ".join(map(name, top[:-1])) + f" and {name(top[-1])}",
                   tuple(top), False, "shortlist")

"""The verdict in words: a genre when the model is sure, a pair or a shortlist when it is not.

The thresholds are fixed in advance (not fitted to any test set) and read calibrated probabilities
(the default model's are temperature-scaled on held-out GTZAN folds):

- the top genre has at least :data:`SURE` -> that genre ("Rock");
- else the top two together have at least :data:`PAIR` -> "somewhere between rock and country";
- else -> "no clear genre: closest are rock, pop and country".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

SURE = 0.6
PAIR = 0.7


@dataclass(frozen=True)
class Verdict:
    """What to say about a track: the sentence, the genres it names, and whether it is a sure call."""

    text: str
    genres: tuple[str, ...]
    sure: bool


def verdict(probabilities: np.ndarray, classes: tuple[str, ...] | list[str],
            name: Callable[[str], str] = str) -> Verdict:
    """The verdict for track ``probabilities`` over ``classes``; ``name`` spells a genre for people."""
    order = np.argsort(-np.asarray(probabilities, dtype=float), kind="stable")
    top = [classes[i] for i in order[:3]]
    p = [float(probabilities[i]) for i in order[:3]]
    if p[0] >= SURE or len(top) == 1:
        return Verdict(name(top[0]), (top[0],), True)
    if p[0] + p[1] >= PAIR:
        return Verdict(f"somewhere between {name(top[0])} and {name(top[1])}", tuple(top[:2]), False)
    return Verdict("no clear genre: closest are " + ", ".join(map(name, top[:-1])) + f" and {name(top[-1])}",
                   tuple(top), False)

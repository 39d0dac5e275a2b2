"""A weak verdict is said in words, never as one large confident genre."""

import numpy as np

from core.verdict import verdict

CLASSES = ("country", "pop", "rock")


def test_sure_pair_and_shortlist():
    assert verdict(np.array([0.1, 0.2, 0.7]), CLASSES).text == "rock"
    pair = verdict(np.array([0.35, 0.05, 0.6 - 1e-9]), CLASSES)
    assert pair.text == "somewhere between rock and country" and not pair.sure
    assert pair.genres == ("rock", "country")
    loose = verdict(np.array([0.25, 0.3, 0.35, 0.1]), (*CLASSES, "jazz"), name=str.title)
    assert loose.text == "no clear genre: closest are Rock, Pop and Country" and not loose.sure

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


class _Result:
    """The two things the verdict card reads from a classification."""

    classes = ("country", "pop", "rock")

    def __init__(self, probabilities: list[float]):
        self.probabilities = np.array(probabilities)

    def top(self, k: int) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities)[:k]
        return [(self.classes[i], float(self.probabilities[i])) for i in order]


def test_the_verdict_card_names_one_genre_only_when_sure():
    from ui.classify_views import verdict_html

    sure = verdict_html(_Result([0.1, 0.15, 0.75]))
    assert "Sounds like" in sure and ">Rock<" in sure and "75%" in sure
    weak = verdict_html(_Result([0.38, 0.12, 0.5]))
    assert "Not a clear call" in weak and "Somewhere between Rock and Country" in weak
    assert "Sounds like" not in weak and ">Rock<" not in weak

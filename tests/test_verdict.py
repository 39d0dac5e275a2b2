"""A weak verdict is said in words, never as one large confident genre; the sure threshold is the model's
fitted one; a recording unlike every genre, or not music at all, is said so."""

import html

import numpy as np
import pytest

from core.verdict import NOT_MUSIC, verdict

CLASSES = ("country", "pop", "rock")


def test_sure_pair_and_shortlist():
    assert verdict(np.array([0.1, 0.2, 0.7]), CLASSES).text == "rock"
    pair = verdict(np.array([0.35, 0.05, 0.6 - 1e-9]), CLASSES)
    assert pair.text == "somewhere between rock and country" and not pair.sure and pair.kind == "pair"
    assert pair.genres == ("rock", "country")
    loose = verdict(np.array([0.25, 0.3, 0.35, 0.1]), (*CLASSES, "jazz"), name=str.title)
    assert loose.text == "no clear genre: closest are Rock, Pop and Country" and not loose.sure


def test_the_verdict_carries_the_chance_of_what_it_names():
    """Without a calibration the chance of a verdict is the model's own probability of the genres it names; with
    one, the calibrated chance of the top 1, 2 or 3 decides the wording and is shown with it."""
    probs = np.array([0.35, 0.05, 0.6 - 1e-9])
    assert verdict(probs, CLASSES).probability == pytest.approx(0.95)  # pair: rock + country
    assert verdict(np.array([0.1, 0.2, 0.7]), CLASSES).probability == pytest.approx(0.7)
    calibrated = verdict(probs, CLASSES, sure=0.8, pair=0.9, chance=[0.55, 0.85, 1.0])
    assert calibrated.kind == "shortlist" and calibrated.probability == 1.0  # 0.85 < the fitted pair threshold
    assert verdict(probs, CLASSES, sure=0.8, pair=0.8, chance=[0.55, 0.85, 1.0]).probability == 0.85
    assert verdict(probs, CLASSES, music=False).probability is None


def test_sure_only_at_the_models_fitted_threshold():
    probs = np.array([0.1, 0.15, 0.75])
    assert verdict(probs, CLASSES, sure=0.75).sure
    stricter = verdict(probs, CLASSES, sure=0.8)
    assert not stricter.sure and stricter.text == "somewhere between rock and pop"


def test_novel_and_not_music_are_said_in_words():
    probs = np.array([0.05, 0.05, 0.9])
    novel = verdict(probs, CLASSES, str.title, novel=True)
    assert novel.text == "closest to Rock, but unlike the genres it knows" and not novel.sure
    assert novel.kind == "novel" and novel.genres == ("rock",)
    for novel_too in (False, True):  # not music comes first: no genre is named at all
        said = verdict(probs, CLASSES, novel=novel_too, music=False)
        assert said.text == NOT_MUSIC and said.genres == () and not said.sure
    assert verdict(probs, CLASSES, music=True).sure  # music, known kind: the usual verdict


class _Result:
    """What the verdict card reads from a classification."""

    classes = ("country", "pop", "rock")

    def __init__(self, probabilities: list[float], sure: float = 0.6, novel: bool = False, music: bool | None = None):
        self.probabilities = np.array(probabilities)
        self.sure, self.novel, self.music = sure, novel, music
        self.is_music, self.segment_music = music, None if music is None else np.full(2, music)

    def verdict(self, name):
        return verdict(self.probabilities, self.classes, name, sure=self.sure, novel=self.novel, music=self.music)


def test_the_verdict_card_names_one_genre_only_when_sure():
    from ui.classify_views import verdict_html

    sure = verdict_html(_Result([0.1, 0.15, 0.75]))
    assert "Sounds like" in sure and ">Rock<" in sure and "75%" in sure
    weak = verdict_html(_Result([0.38, 0.12, 0.5]))
    assert "Not a clear call" in weak and "Somewhere between Rock and Country" in weak
    assert "<b>88%</b> likely Rock or Country" in weak  # the chance of the pair, not of the top genre
    assert "Sounds like" not in weak and ">Rock<" not in weak
    assert "Sounds like" not in verdict_html(_Result([0.1, 0.15, 0.75], sure=0.8))
    novel = verdict_html(_Result([0.1, 0.15, 0.75], novel=True))
    assert "Closest to Rock, but unlike the genres it knows" in novel and "Sounds like" not in novel
    noise = verdict_html(_Result([0.1, 0.15, 0.75], music=False))
    assert html.escape(NOT_MUSIC) in noise and "Rock" not in noise.split("</div>", 1)[1]

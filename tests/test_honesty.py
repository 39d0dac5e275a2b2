"""The honesty layer of tag-reading models, on small synthetic data: the calibration and the training-song
index are fitted reproducibly, survive the card (to_dict/from_dict), keep the verdict and its order, and say
"unlike the genres it knows" only far from every training song."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.models.calibration import Calibration, Honesty, fit_honesty, rescaled, sure_threshold
from core.models.neighbours import NeighbourIndex
from core.models.registry import list_models, load_model
from core.models.transfer import fit_linear_head

CLASSES = ("blues", "metal", "pop")


def synthetic(seed: int = 0):
    """3 genres x 10 tracks x 6 windows, clean and one augmented copy, in 8 'tags'; genres overlap a little."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (3, 8))
    x, y, groups, variant = [], [], [], []
    for g in range(3):
        for t in range(10):
            track = centres[g] + rng.normal(0, 1.0, 8)
            for v in (0, 1):
                x.append(track + rng.normal(0, 0.8 + 0.5 * v, (6, 8)))
                y += [g] * 6
                groups += [f"{CLASSES[g]}/{CLASSES[g]}.{t:05d}"] * 6
                variant += [v] * 6
    x, y, groups, variant = np.concatenate(x), np.array(y), np.array(groups), np.array(variant)
    tracks = np.unique(groups)
    folds = [(tracks[np.arange(len(tracks)) % 3 != k], tracks[np.arange(len(tracks)) % 3 == k]) for k in range(3)]
    return x, y, groups, variant, folds


def fitted(seed: int = 0) -> dict:
    x, y, groups, variant, folds = synthetic()
    heads = [fit_linear_head(x[np.isin(groups, train) & (variant == 0)], y[np.isin(groups, train) & (variant == 0)], 3).logits
             for train, _ in folds]
    return fit_honesty(x, y, groups, variant, folds, heads, 1.0, seed, CLASSES)


def test_fit_is_reproducible_and_survives_the_card():
    first, second = fitted(), fitted()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert json.dumps(fitted(seed=1), sort_keys=True) != json.dumps(first, sort_keys=True)  # the seed matters (crops)
    card = json.loads(json.dumps(first))
    calibration, index = Calibration.from_dict(card["calibration"]), NeighbourIndex.from_dict(card["novelty"])
    assert Calibration.from_dict(calibration.to_dict()) == calibration
    assert index.to_dict() == card["novelty"] and len(index.track_ids) == 30
    assert 0 < calibration.sure <= 1 and 0 < calibration.pair <= 1 and np.isfinite(index.threshold)
    assert len(calibration.coef) == 2  # three genres: one or two named need a chance, all three are sure
    held = card["calibration"]["held_out"]
    assert {"clean tracks", "augmented tracks", "2-window crops", "all"} <= set(held)
    assert 0 <= held["all"]["ece"] <= 1 and held["all"]["sure_wrong"] <= 0.1 + 1e-9
    assert 0 <= held["all"]["ece_as_worded"] <= 1 and (held["all"]["pair_wrong"] or 0) <= 0.1 + 1e-9


def test_chances_grow_with_the_genres_named_and_the_verdict_says_the_one_that_fits():
    """The chance of the top two is never below the top one's; a verdict names as few genres as its thresholds
    allow and shows the chance of exactly what it names."""
    from core.verdict import verdict

    calibration = Calibration.from_dict(fitted()["calibration"])
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3) * 0.7, size=200)
    chances = calibration.chances(probs, np.full(200, 6), rng.uniform(0.5, 3, 200))
    assert (np.diff(chances, axis=1) >= 0).all() and (chances[:, -1] == 1.0).all()
    for p, c in zip(probs, chances):
        said = verdict(p, CLASSES, sure=calibration.sure, pair=calibration.pair, chance=c)
        expected = 1 if c[0] >= calibration.sure else 2 if c[1] >= calibration.pair else 3
        assert len(said.genres) == expected and said.probability == pytest.approx(c[expected - 1])


def test_the_closest_songs_and_novelty_come_from_one_index():
    x, _, groups, variant, _ = synthetic()
    honesty = Honesty.of(fitted())
    assert honesty.calibration is not None and honesty.index is not None
    own = x[(groups == "metal/metal.00003") & (variant == 0)]
    probs = np.array([0.1, 0.7, 0.2])
    shown, novelty, chance = honesty.read(probs, own)
    assert novelty is not None and novelty.closest[0].track_id == "metal/metal.00003"
    assert novelty.closest[0].label == "metal" and not novelty.novel
    assert [n.distance for n in novelty.closest] == sorted(n.distance for n in novelty.closest)
    assert novelty.distance == pytest.approx(np.mean([n.distance for n in novelty.closest[:honesty.index.k]]))
    far = honesty.read(probs, own + 25.0)[1]
    assert far is not None and far.novel
    assert shown.argmax() == 1 and shown.sum() == pytest.approx(1.0)
    assert chance is not None and shown[1] == pytest.approx(chance[0])  # the bars show the top genre's chance
    assert Honesty.of({}).read(probs, own) == (probs, None, None)  # no honesty data: the network's own probabilities


@pytest.mark.parametrize("confidence", [0.05, 0.3, 0.5, 0.9, 0.999])
def test_rescaling_keeps_the_verdict_and_the_order(confidence):
    probs = np.array([0.05, 0.5, 0.3, 0.15])
    shown = rescaled(probs, confidence)
    assert shown.sum() == pytest.approx(1.0)
    assert list(np.argsort(-shown, kind="stable")) == list(np.argsort(-probs, kind="stable"))
    assert shown[1] == pytest.approx(max(confidence, shown[2]), abs=1e-5)


def test_the_sure_threshold_keeps_sure_verdicts_at_most_ten_percent_wrong():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.3, 1.0, 2000)
    correct = rng.uniform(size=2000) < confidence
    sure = sure_threshold(confidence, correct, np.ones(2000))
    above = confidence >= sure
    assert (~correct[above]).mean() <= 0.10 and 0.7 < sure < 0.9
    assert sure_threshold(confidence, np.zeros(2000, bool), np.ones(2000)) == 1.0  # never right: never sure


@pytest.mark.skipif("gtzan-musicnn-tags" not in {i.name for i in list_models()}, reason="shipped model missing")
def test_predict_csv_shows_the_calibrated_confidence_and_novelty(make_wav, tmp_path):
    """``core predict`` with the shipped default: the confidence is the calibrated chance of the verdict as
    worded, the page's verdict words and the novel flag are columns."""
    import pandas as pd

    from core.cli import main
    from core.predict import classify

    wav, out = make_wav("song", seconds=7.0), tmp_path / "p.csv"  # a song: a chord alone is not music
    assert main(["predict", str(wav), "--model", "gtzan-musicnn-tags", "--workers", "1", "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    result = classify(wav, load_model("gtzan-musicnn-tags"))
    assert result.model_probabilities is not None and result.novelty is not None
    said = result.verdict()
    assert said.probability is not None and row["confidence"] == pytest.approx(said.probability, abs=1e-4)
    named = np.sort(result.model_probabilities)[::-1][:len(said.genres)].sum()
    assert row["confidence"] != pytest.approx(named, abs=1e-3)  # calibrated, not the network's own
    assert row["verdict"] == result.verdict().text and bool(row["novel"]) == result.novelty.novel
    assert result.genre == result.classes[int(np.argmax(result.model_probabilities))]  # the verdict is the network's


@pytest.mark.skipif("gtzan-musicnn-tags" not in {i.name for i in list_models()}, reason="shipped model missing")
def test_the_model_facts_say_what_the_confidence_means():
    from ui.classify_views import model_facts

    card = next(i for i in list_models() if i.name == "gtzan-musicnn-tags").card
    facts = dict(model_facts(card))
    calibration = card.reliability["calibration"]
    assert "right as worded" in facts["Confidence shown"]
    assert f"one genre from {calibration['sure']:.0%}, two from {calibration['pair']:.0%}" in facts["Confidence shown"]


def test_a_verdict_size_that_is_always_right_gets_its_rate_not_an_error():
    """With few genres every held-out top-2 verdict may be right (a user's 3 genres): that size's chance is the
    observed rate (Jeffreys-style, below 1), the other sizes are fitted as usual."""
    from core.models.calibration import HeldOut, fit_calibration

    rng = np.random.default_rng(0)
    n = 60
    probs = rng.dirichlet(np.ones(3), size=n)
    y = np.argsort(-probs, axis=1)[:, rng.integers(0, 2, n)][np.arange(n), np.arange(n)]  # always in the top 2
    held = HeldOut(probs, np.full(n, 4), rng.uniform(0.5, 2, n), y, np.arange(n) % 3, np.zeros(n, int),
                   np.zeros(n, bool), np.ones(n))
    calibration = fit_calibration(held)
    assert calibration.coef[1] == (0.0,) * 4 and 0.95 < calibration.chances(probs[:1], 4, 1.0)[0, 1] < 1.0

"""'This doesn't sound like music': the generated non-music battery, the music detector, and what the CLI
and evaluate-audio make of it (the page: tests/test_classify_apptest.py and tests/browser/test_nonmusic_page.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from core.cli import main
from core.data import nonmusic
from core.models.evaluate_audio import NOT_MUSIC, format_scores, music_counts
from core.models.music_detector import MusicDetector, fit_music_detector, music_detector

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SPEECH = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.mark.parametrize("family", [f for f in nonmusic.FAMILIES if f != "speech"])
def test_every_family_is_seeded_audio_of_the_asked_length(family):
    for kind in nonmusic.GENERATORS[family][1]:
        clip = nonmusic.make_clip(family, kind, seed=5, seconds=1.0)
        again = nonmusic.make_clip(family, kind, seed=5, seconds=1.0)
        other = nonmusic.make_clip(family, kind, seed=6, seconds=1.0)
        assert clip.y.dtype == np.float32 and len(clip.y) == clip.sr and np.isfinite(clip.y).all()
        assert np.abs(clip.y).max() <= 1.0 and np.abs(clip.y).max() > 0
        np.testing.assert_array_equal(clip.y, again.y)
        assert not np.array_equal(clip.y, other.y)


@SPEECH
def test_speech_is_spoken_by_espeak_and_seeded():
    clip = nonmusic.make_clip("speech", "monologue", seed=1, seconds=2.0)
    np.testing.assert_array_equal(clip.y, nonmusic.make_clip("speech", "monologue", seed=1, seconds=2.0).y)
    assert np.sqrt(np.mean(clip.y**2)) > 1e-4


def test_without_espeak_only_speech_fails_and_names_the_package(monkeypatch):
    monkeypatch.setattr(nonmusic.shutil, "which", lambda _: None)
    with pytest.raises(nonmusic.SpeechUnavailable, match="espeak-ng"):
        nonmusic.make_clip("speech", "monologue", seed=0, seconds=1.0)
    assert len(nonmusic.battery(0, 1, families=("noise",))) == 3


def blobs(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Music windows (12 tracks of 4 genres, 5 windows each) near +1, non-music clips (3 families) near -1."""
    rng = np.random.default_rng(seed)
    music = rng.normal(1.0, 1.0, (60, 6))
    tracks = np.repeat([f"t{i}" for i in range(12)], 5)
    labels = np.repeat(np.arange(4), 15)
    other = rng.normal(-1.0, 1.0, (45, 6))
    clips = np.repeat([f"c{i}" for i in range(15)], 3)
    families = np.repeat(["a", "b", "c"], 15)
    return music, tracks, labels, other, clips, families


def test_the_detector_fit_is_reproducible_and_round_trips():
    data = blobs()
    a, b = fit_music_detector(*data, folds=3), fit_music_detector(*data, folds=3)
    assert a.to_dict() == b.to_dict()
    again = MusicDetector.from_dict(a.to_dict())
    windows = np.random.default_rng(1).normal(0, 2, (40, 6))
    np.testing.assert_array_equal(again.window_music(windows), a.window_music(windows))
    assert a.rates["music_tracks"] == 12 and a.rates["nonmusic_clips"] == 15
    assert set(a.rates["unseen_family_flagged"]) == {"a", "b", "c"}
    assert a.window_music(np.full((1, 6), 3.0))[0] and not a.window_music(np.full((1, 6), -3.0))[0]
    found = music_detector({"music": a.to_dict()})
    assert found is not None and found.to_dict() == a.to_dict()
    assert music_detector({}) is None


def test_the_track_rule_needs_enough_music_windows():
    detector = MusicDetector(np.zeros(1), np.ones(1), np.ones(1), 0.0, threshold=0.0, min_share=0.5)
    assert detector.is_music(np.array([True, True, False, False]))
    assert not detector.is_music(np.array([True, False, False]))
    assert not detector.is_music(np.array([], dtype=bool))


def test_evaluate_audio_counts_what_it_heard_as_not_music():
    rows = [{"file": "song.flac", "label": "rock", "music": True},
            {"file": "talk.wav", "label": "rock", "music": False},
            {"file": "noise.wav", "label": NOT_MUSIC, "music": False},
            {"file": "bird.wav", "label": NOT_MUSIC, "music": True}]
    counts = music_counts(rows)
    assert counts is not None
    assert (counts["songs_flagged"], counts["not_music_flagged"], counts["missed_files"]) == (1, 1, ["bird.wav"])
    assert music_counts([{**r, "music": None} for r in rows]) is None
    report = {"n": 0, "single_label": {"n": 0}, "per_label": {}, "music": counts}
    assert "1 of 2 heard as not music (missed: bird.wav)" in format_scores(report)


@pytest.fixture(scope="module")
def shipped():
    from core.models.registry import RegistryError, load_model

    try:
        model = load_model("gtzan-musicnn-tags")
    except RegistryError:
        pytest.skip("the shipped default model is not in the registry")
    if music_detector(model.info.card.reliability) is None:
        pytest.skip("the shipped model has no music detector")
    return model


@SPEECH
def test_core_predict_flags_speech_and_pink_noise_but_not_a_song(shipped, tmp_path, capsys):
    talk = nonmusic.make_clip("speech", "monologue", seed=3, seconds=8.0)
    pink = nonmusic.make_clip("noise", "pink", seed=3, seconds=8.0)
    sf.write(tmp_path / "talk.wav", talk.y, talk.sr)
    sf.write(tmp_path / "pink.wav", pink.y, pink.sr)
    song = SHARED / "gtzan_flac" / "rock" / "rock.00000.flac"
    files = [str(tmp_path / "talk.wav"), str(tmp_path / "pink.wav")] + ([str(song)] if song.is_file() else [])
    out = tmp_path / "out.csv"
    assert main(["predict", *files, "--model", shipped.name, "--out", str(out), "--workers", "1"]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["music"][:2]) == ["not music", "not music"]
    assert list(table["genre"][:2]) == ["", ""] and (table.filter(like="p_").iloc[:2] == "").all().all()
    if song.is_file():
        assert table["music"][2] == "music" and table["genre"][2] != ""

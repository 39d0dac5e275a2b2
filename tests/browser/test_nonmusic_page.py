"""'This doesn't sound like music' in a real browser: speech and pink noise get words instead of a genre
(the genre scores on request), a song gets its genre. The logic: tests/test_classify_apptest.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf
from browser_harness import upload_files
from playwright.sync_api import Page, expect
from synth_audio import synth
from test_classify import GENRE_NAMES, SHARED, UPLOADER, open_classify, remove_uploads, verdict, wait_for_charts

from core.data import nonmusic

NOT_MUSIC = "This doesn't sound like music"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_speech_and_noise_are_not_music_and_a_song_is(page: Page, app_url, tmp_path: Path, shot):
    talk = nonmusic.make_clip("speech", "monologue", seed=11, seconds=9.0)
    pink = nonmusic.make_clip("noise", "pink", seed=11, seconds=9.0)
    sf.write(tmp_path / "talking.wav", talk.y, talk.sr)
    sf.write(tmp_path / "pink-noise.wav", pink.y, pink.sr)
    real = SHARED / "gtzan_flac" / "rock" / "rock.00001.flac"
    song = real if real.is_file() else tmp_path / "song.wav"
    if not real.is_file():
        sf.write(song, synth("song", seconds=12.0, seed=2), 22_050)
    open_classify(page, app_url)
    for name in ("talking.wav", "pink-noise.wav"):
        upload_files(page, UPLOADER, tmp_path / name, timeout_ms=180_000)
        wait_for_charts(page, 1)
        expect(page.locator(".cp-verdict").first).to_contain_text(NOT_MUSIC)
        expect(page.locator(".cp-bar").first).to_be_hidden()  # the genre scores wait, closed, in an expander
        page.get_by_text("Genre scores anyway").click()
        expect(page.locator(".cp-bar").first).to_be_visible()
        expect(page.get_by_role("heading", name="Why", exact=False)).to_have_count(0)
        shot(page, name.split(".")[0])
        remove_uploads(page)
    upload_files(page, UPLOADER, song, timeout_ms=180_000)
    wait_for_charts(page, 1)
    assert verdict(page) in GENRE_NAMES
    expect(page.get_by_text(NOT_MUSIC)).to_have_count(0)
    shot(page, "song")

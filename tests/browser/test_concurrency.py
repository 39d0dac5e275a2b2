"""Five browser sessions classify five different clips at the same time: each gets its own result (the one
``core.predict.classify`` gives for its file, no cross-talk through caches or globals) and none an error."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from browser_harness import count_reruns, file_uploader, open_page, wait_for_app
from playwright.sync_api import expect
from synth_audio import song

from ui.classify_views import verdict_html

UPLOADER = "Drop one or many songs"
FINAL = ".cp-verdict:not(.cp-partial)"  # the verdict card, not the dimmed "so far" card shown while it listens
SESSIONS = 5
SR = 22_050


def clip(kind: int, seconds: float = 6.0) -> np.ndarray:
    """Five short clips that sound (and classify) differently: four synthetic songs at different tempi, and
    noise (which the default model hears as not music)."""
    if kind == 1:
        return (0.3 * np.random.default_rng(kind).uniform(-1, 1, int(seconds * SR))).astype(np.float32)
    return song(seconds, SR, seed=kind, bpm=70.0 + 25 * kind)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[tuple[Path, str]]:
    """The clips and what the registry's default model says of each (the verdict card's text)."""
    from core.models.registry import load_model
    from core.predict import classify

    folder = tmp_path_factory.mktemp("concurrency")
    model = load_model()
    out = []
    for kind in range(SESSIONS):
        path = folder / f"session-{kind}.wav"
        sf.write(path, clip(kind), SR)
        card = verdict_html(classify(path, model))  # the card's headline and detail, as the page must show them
        headline = re.search(r'class="cp-genre[^"]*"[^>]*>(.*?)</div>', card).group(1)
        detail = re.sub(r"<[^>]+>", "", re.search(r'class="cp-confidence">(.*?)</div>', card).group(1))
        out.append((path, html.unescape(f"{headline} | {detail}")))
    assert len({expected for _, expected in out}) == SESSIONS, f"clips must be told apart: {out}"
    return out


def test_five_sessions_classify_at_once_each_gets_its_own_result(browser, app_url, clips, artifacts):
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(SESSIONS)]
    try:
        pages = []
        for context in contexts:
            count_reruns(context)
            page = context.new_page()
            page.set_default_timeout(240_000)
            open_page(page, f"{app_url}/classify", timeout_ms=240_000)
            pages.append(page)
        for page, (path, _) in zip(pages, clips):  # all five uploads start before any result is awaited
            file_uploader(page, UPLOADER).locator('input[type="file"]').set_input_files(str(path))
        seen = []
        for i, (page, (path, expected)) in enumerate(zip(pages, clips)):
            expect(page.locator(f"{FINAL} .cp-genre")).to_be_visible(timeout=240_000)
            wait_for_app(page, 240_000)
            page.screenshot(path=str(artifacts / f"session-{i}.png"))
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.locator('[data-testid="stAlert"]').filter(has_text="could not").count() == 0
            expect(page.get_by_text(path.name).first).to_be_visible()
            card = page.locator(FINAL)
            seen.append(f"{card.locator('.cp-genre').inner_text()} | {card.locator('.cp-confidence').inner_text()}")
        assert seen == [expected for _, expected in clips]
    finally:
        for context in contexts:
            context.close()

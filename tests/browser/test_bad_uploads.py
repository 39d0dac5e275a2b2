"""The bad-input matrix's upload cases in a real browser (cases in ``tests/bad_input_cases.py``): each file
gets its message in place, good files beside them are still classified, nothing runs from a file name.

Bad input is checked once per layer: every case at the ``core`` level (tests/test_bad_inputs.py), the pages'
messages through AppTest (tests/test_classify_apptest.py, tests/test_explore_apptest.py), and here the
browser's upload of the audio cases in one batch (a bad feature table in the browser: tests/browser/test_explore.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from browser_harness import REPO_ROOT, open_page, upload_files
from playwright.sync_api import Page, expect

sys.path.insert(0, str(REPO_ROOT / "tests"))
from bad_input_cases import AUDIO_CASES, Case, available, tone, wav_bytes  # noqa: E402

UPLOADER = "Drop one or many songs"
# Cases a browser can upload as a file: not the 2-GB sparse file (the uploader's own limit is tested in
# test_classify.py) nor the ones that are in-memory uploads with made-up names.
REFUSED = [c for c in AUDIO_CASES if c.refused and c.name != "file over the size limit"
           and "upload" not in c.name and available(c)]
WARNED = next(c for c in AUDIO_CASES if c.name == "WAV claiming more samples")
HOSTILE_NAME = "<img src=x onerror=alert(1)> Ünïcødé & ♫ (live).wav"


def build(case: Case, root: Path) -> Path:
    folder = root / case.name.replace(" ", "_").replace("/", "_")
    folder.mkdir()
    return case.build(folder)


def no_exception(page: Page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_bad_audio_uploads_are_explained_in_place_and_good_ones_still_classified(page, app_url, tmp_path, shot):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    bad = {case: build(case, tmp_path) for case in REFUSED}
    short = build(WARNED, tmp_path)
    hostile = tmp_path / HOSTILE_NAME
    hostile.write_bytes(wav_bytes(tone(6)))
    open_page(page, f"{app_url}/classify", timeout_ms=180_000)
    upload_files(page, UPLOADER, [*bad.values(), short, hostile], timeout_ms=240_000)

    total = len(bad) + 2
    expect(page.get_by_text(f"{total} files · 2 classified · {len(bad)} could not be analysed")).to_be_visible()
    for case, path in bad.items():
        alert = page.locator('[data-testid="stAlert"]').filter(has_text=path.name)
        expect(alert.first).to_contain_text(case.refused)
    table = page.locator('[data-testid="stDataFrame"]')
    expect(table).to_be_visible()
    no_exception(page)
    assert not dialogs, "a file name ran as HTML/script"
    assert page.locator("img[src='x']").count() == 0
    shot(page, "many-bad-uploads")

    # The good files beside them were classified: the details of the first (the lying WAV) carry the
    # loader's warning.
    expect(page.locator(".cp-genre")).to_be_visible()
    expect(page.locator('[data-testid="stAlert"]').filter(has_text=WARNED.warning).first).to_be_visible()

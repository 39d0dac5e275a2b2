"""The Classify page in a real browser: one clip (genre + charts + warm latency), many files with the CSV
download, the upload limit, an example clip and a new analysis replacing the old, each with a screenshot
under test-artifacts/. Bad files in the browser: tests/browser/test_bad_uploads.py (one batch of every
kind) and tests/browser/test_layout.py (one alone, at two widths); each kind's message on the page:
tests/test_classify_apptest.py."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from browser_harness import (
    REPO_ROOT,
    StreamlitServer,
    file_uploader,
    open_page,
    rerun_after,
    set_dataset_folder,
    upload_files,
    wait_for_app,
)
from playwright.sync_api import Page, expect
from synth_audio import song

UPLOADER = "Drop one or many songs"
GENRE_NAMES = ("Blues", "Classical", "Country", "Disco", "Hip-hop", "Jazz", "Metal", "Pop", "Reggae", "Rock")
SHARED = REPO_ROOT.parent / "shared" / "data"
ARTIFACTS = REPO_ROOT / "test-artifacts"
FIRST_CHARTS = 2  # drawn on arrival: genre timeline and the "why" panels; waveform and spectrogram are tabs


def write_wav(path: Path, y: np.ndarray, sr: int = 22_050) -> Path:
    sf.write(path, y.astype(np.float32), sr)
    return path


def music(seconds: float, seed: int = 0, freq: float = 220.0) -> np.ndarray:
    """A synthetic pop song (drums, bass, chords, melody: the music detector hears it as music); ``freq``
    sets its tempo (220 Hz: 100 bpm)."""
    return song(seconds, seed=seed, bpm=freq * 100 / 220)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A real 30-s GTZAN clip when the development data is there, else a synthetic 30-s WAV."""
    real = SHARED / "gtzan_flac" / "jazz" / "jazz.00000.flac"
    return real if real.is_file() else write_wav(tmp_path / "synthetic-song.wav", music(30))


def open_classify(page: Page, url: str) -> None:
    open_page(page, f"{url}/classify", timeout_ms=180_000)
    expect(page.get_by_role("heading", name="Classify a song")).to_be_visible()


def chart_count(page: Page) -> int:
    return page.locator('[data-testid="stPlotlyChart"]').count()


def wait_for_charts(page: Page, n: int, timeout_ms: float = 60_000) -> None:
    """Wait until ``n`` plotly charts have drawn (each has at least one .main-svg layer)."""
    page.wait_for_function(
        f"""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                  .filter(c => c.querySelector('.main-svg')).length >= {n}""", timeout=timeout_ms)


def remove_uploads(page: Page) -> None:
    """Click every uploaded file's delete button (each click reruns the page)."""
    while page.locator('[data-testid="stFileChipDeleteBtn"]').count():
        rerun_after(page, page.locator('[data-testid="stFileChipDeleteBtn"]').first.click)


def verdict(page: Page) -> str:
    """The verdict's leading genre (the headline when the model is sure; an unsure verdict says it in words)."""
    page.locator(".cp-genre").first.wait_for(timeout=60_000)
    return page.locator(".cp-verdict").first.get_attribute("data-genre")


def test_one_clip_shows_genre_charts_and_is_fast_when_warm(page, app_url, clip, tmp_path, shot):
    open_classify(page, app_url)
    shot(page, "1-empty")
    started = time.perf_counter()
    upload_files(page, UPLOADER, clip, timeout_ms=180_000)
    wait_for_charts(page, FIRST_CHARTS)
    cold = time.perf_counter() - started
    assert verdict(page) in GENRE_NAMES
    assert page.get_by_text("confident").first.is_visible() or page.get_by_text("Not a clear call").first.is_visible()
    assert page.locator(".cp-bar").count() == 5
    closest = page.locator('[class*="st-key-classify_closest"] [data-testid="stAudio"]').count()  # training songs
    assert page.locator('[data-testid="stAudio"]').count() == 1 + closest
    tags = page.locator('[class*="st-key-classify_tags"]').count()  # the default model's reasons: its tags
    assert tags == 1
    assert chart_count(page) == 1 + tags + page.locator('[class*="st-key-classify_evidence_"]').count()
    expect(page.get_by_role("heading", name=f"Why {verdict(page)}?")).to_be_visible()
    assert not page.locator('[data-testid="stException"]').count()
    shot(page, "2-one-clip")
    for tab, name in (("Waveform", "3-waveform"), ("Mel spectrogram", "4-spectrogram")):
        rerun_after(page, page.get_by_role("tab", name=tab).click)
        wait_for_charts(page, FIRST_CHARTS)
        expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible()
        shot(page, name)
    rerun_after(page, page.get_by_role("tab", name="Genre over time").click)

    # Warm: the same audio under another name, uploaded anew, is answered from the content-hash cache.
    remove_uploads(page)
    assert not page.locator(".cp-genre").count()
    again = shutil.copyfile(clip, tmp_path / f"again-{clip.name}")
    started = time.perf_counter()
    upload_files(page, UPLOADER, again)
    wait_for_charts(page, FIRST_CHARTS)
    warm = time.perf_counter() - started
    assert verdict(page) in GENRE_NAMES
    assert page.get_by_text(f"again-{clip.name}").first.is_visible()
    shot(page, "5-warm")
    numbers = {"clip": clip.name, "cold_s": round(cold, 3), "warm_s": round(warm, 3),
               "measured": "upload set to every chart drawn and the script idle (headless Chromium, this machine)"}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "classify_latency.json").write_text(json.dumps(numbers, indent=1) + "\n")
    print(f"\nClassify page latency: {numbers}")


def test_the_server_classifies_without_loading_tensorflow(page, tmp_path, shot):
    """A fresh server (Home, Classify, a song to its verdict, reasons and tabs) never maps TensorFlow's libraries:
    the default model runs on its inference export (seen from outside the process, in /proc/PID/maps)."""
    with StreamlitServer() as server:
        open_page(page, server.url, timeout_ms=180_000)
        open_classify(page, server.url)
        upload_files(page, UPLOADER, write_wav(tmp_path / "song.wav", song(9.0, seed=5)), timeout_ms=180_000)
        assert verdict(page) in GENRE_NAMES
        expect(page.get_by_role("heading", name=f"Why {verdict(page)}?")).to_be_visible()
        rerun_after(page, page.get_by_role("tab", name="Mel spectrogram").click)
        shot(page, "no-tensorflow")
        # TensorFlow's own library (OpenVINO maps a "tensorflow" frontend of its own, which is not TensorFlow)
        assert server.maps("openvino") and not server.maps("libtensorflow_framework")


def test_many_files_give_a_table_and_a_csv(page, app_url, clip, tmp_path, shot):
    other = write_wav(tmp_path / "second-song.wav", music(12, seed=1, freq=330))
    bad, message = tmp_path / "notes.txt", "not an audio file"
    bad.write_text("these are not the notes you are looking for\n")
    open_classify(page, app_url)
    upload_files(page, UPLOADER, [clip, other, bad], timeout_ms=180_000)
    expect(page.get_by_text("3 files · 2 classified · 1 could not be analysed")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
    errors = page.locator('[data-testid="stAlert"]').filter(has_text=bad.name)
    assert message in errors.inner_text()
    wait_for_charts(page, FIRST_CHARTS)  # the details of the first classified file
    shot(page, "many-files")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    saved = download.path()
    rows = list(csv.DictReader(Path(saved).read_text().splitlines()))
    assert download.suggested_filename == "genres.csv"
    assert [r["file"] for r in rows] == [clip.name, other.name, bad.name]
    assert {r["genre"] for r in rows[:2]} <= {g.lower().replace("-", "") for g in GENRE_NAMES}
    assert all(r["genre"] for r in rows[:2]) and not rows[2]["genre"]
    assert 0 < float(rows[0]["confidence"]) <= 1 and message in rows[2]["error"]
    assert abs(sum(float(v) for k, v in rows[0].items() if k.startswith("p_")) - 1) < 0.01


def test_each_url_opened_first_on_a_fresh_server_and_a_file_over_its_upload_limit(page, start_app, tmp_path, shot):
    """Direct URLs run inside app.py's navigation (menu and sidebar setting), even as a server's first request;
    then, on that server (a 1-MB limit), a file over the upload limit is refused in place."""
    url = start_app({"STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "1"})
    for path, title in (("/train", "Train a model"), ("/explore", "Explore the dataset"),
                        ("/classify", "Classify a song")):
        open_page(page, url + path, timeout_ms=180_000)
        assert page.get_by_role("heading", name=title).first.is_visible(), path
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert sidebar.get_by_role("textbox", name="Dataset folder").is_visible(), path
        assert sidebar.get_by_role("link", name="Classify").is_visible(), path

    big = write_wav(tmp_path / "long-song.wav", music(40))  # 1.8 MB > 1 MB
    small = write_wav(tmp_path / "short-song.wav", music(6, seed=2))
    field = file_uploader(page, UPLOADER).locator('input[type="file"]')
    field.set_input_files([str(big)])
    expect(file_uploader(page, UPLOADER)).to_contain_text("File must be 1.0MB or smaller", timeout=30_000)
    wait_for_app(page)
    expect(page.locator('[data-testid="stAlert"]')).to_contain_text("up to 1 MB per file")
    shot(page, "too-large")
    upload_files(page, UPLOADER, small, timeout_ms=180_000)
    assert verdict(page) in GENRE_NAMES


def test_an_example_clip_from_the_dataset_folder(page, app_url, tmp_path, shot):
    (tmp_path / "metal").mkdir()
    write_wav(tmp_path / "metal" / "metal.00000.wav", music(8, seed=3, freq=110))
    open_classify(page, app_url)
    set_dataset_folder(page, tmp_path)
    rerun_after(page, page.locator('[data-testid="stButtonGroup"]').get_by_text("Example clip").click,
                timeout_ms=180_000)
    wait_for_charts(page, FIRST_CHARTS)
    assert verdict(page) in GENRE_NAMES
    expect(page.locator(".cp-known")).to_contain_text("the dataset label: Metal")
    page.get_by_text("About this model").click()
    expect(page.get_by_text("Architecture")).to_be_visible()
    shot(page, "example-with-model-facts")


# Records, while the page changes, whether a progress bar was shown, whether a final verdict card was on
# screen at the same time as one (a stale result), and whether the verdict of the first part was shown.
WATCH_PROGRESS = """() => {
  window.cpSeen = {progress: false, stale: false, partial: false};
  const look = () => {
    const progress = document.querySelector('[data-testid="stProgress"]');
    if (progress) {
      window.cpSeen.progress = true;
      if (document.querySelector('.cp-verdict:not(.cp-partial)')) window.cpSeen.stale = true;
    }
    if (document.querySelector('.cp-partial')) window.cpSeen.partial = true;
  };
  new MutationObserver(look).observe(document.body, {childList: true, subtree: true, attributes: true});
}"""


def test_a_new_analysis_replaces_the_old_result_with_progress_and_an_early_verdict(page, app_url, tmp_path, shot):
    song = write_wav(tmp_path / "two-minute-song.wav", music(120, seed=5, freq=330))  # 40 windows: 3 batches
    open_classify(page, app_url)
    page.evaluate(WATCH_PROGRESS)
    upload_files(page, UPLOADER, song, timeout_ms=180_000)
    wait_for_charts(page, FIRST_CHARTS)
    seen = page.evaluate("window.cpSeen")
    assert seen["progress"] and seen["partial"] and not seen["stale"], seen
    shot(page, "long-song")

    page.evaluate(WATCH_PROGRESS)  # another model: a new analysis of the same song
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Model").click()
    rerun_after(page, page.get_by_role("option", name="clips100-mel-cnn").click, timeout_ms=180_000)
    wait_for_charts(page, FIRST_CHARTS)
    assert verdict(page) in GENRE_NAMES
    seen = page.evaluate("window.cpSeen")
    assert seen["progress"] and not seen["stale"], seen

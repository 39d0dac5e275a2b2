"""The server's analysis warm-up (:func:`ui.classify_data.warm_up`): it loads the default model into the page's
cache once, in the background, never raises, and the Classify page works while it runs."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest
from synth_audio import synth

from core.models import registry
from ui import classify_data

APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture
def fresh_caches():
    """No model and no warm-up thread cached by earlier tests (and none left for later ones)."""
    classify_data.model.clear()
    classify_data._warm_up_thread.clear()
    yield
    classify_data.model.clear()
    classify_data._warm_up_thread.clear()


def test_the_warm_up_leaves_the_default_model_loaded_for_the_page(fresh_caches, monkeypatch) -> None:
    loads: list[str] = []
    real = classify_data.load_model
    monkeypatch.setattr(classify_data, "load_model", lambda *a: loads.append(a[0]) or real(*a))
    seconds = classify_data.warm_analysis()
    assert seconds is not None and seconds > 0 and loads == [registry.default_name()]
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    at.switch_page("app_pages/classify.py").run()
    wav = io.BytesIO()
    sf.write(wav, synth("song", seconds=7.0, seed=3), 22_050, format="WAV")
    at.file_uploader(key="classify_files").set_value([("song.wav", wav.getvalue(), "audio/wav")]).run()
    assert not at.exception and any('data-genre="' in m.value for m in at.markdown)
    assert loads == [registry.default_name()]  # the upload used the model the warm-up loaded


def test_a_failing_warm_up_returns_none_and_raises_nothing(fresh_caches, monkeypatch, tmp_path, caplog) -> None:
    monkeypatch.setattr(classify_data, "classify", lambda *a, **k: 1 / 0)
    assert classify_data.warm_analysis() is None
    assert "warm-up failed" in caplog.text and "ZeroDivisionError" in caplog.text
    monkeypatch.setenv("CPUNK_MODELS_DIR", str(tmp_path))  # no model at all: nothing to warm up
    assert classify_data.warm_analysis() is None


def test_the_warm_up_starts_once_per_server_and_can_be_switched_off(fresh_caches, monkeypatch) -> None:
    runs: list[int] = []
    monkeypatch.setattr(classify_data, "warm_analysis", lambda: runs.append(1))
    classify_data.warm_up()  # scripts: no Streamlit server, no warm-up
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()  # AppTest: a mock server, no warm-up
    assert runs == [] and not at.exception
    monkeypatch.setattr(classify_data, "_serving", lambda: True)
    monkeypatch.setenv(classify_data.WARM_UP_ENV, "0")
    classify_data.warm_up()
    assert runs == []
    monkeypatch.delenv(classify_data.WARM_UP_ENV)
    for _ in range(3):  # every page run calls it
        classify_data.warm_up()
    classify_data._warm_up_thread().join(10)
    assert runs == [1]


def test_the_page_answers_while_the_warm_up_runs(fresh_caches, monkeypatch) -> None:
    """A warm-up still running (here: held until the end) never holds up a page or an upload."""
    release, started = threading.Event(), threading.Event()
    monkeypatch.setattr(classify_data, "warm_analysis", lambda: started.set() or release.wait(120))
    monkeypatch.setattr(classify_data, "_serving", lambda: True)
    try:
        at = AppTest.from_file(str(APP), default_timeout=300)
        at.run(timeout=30)  # a warm-up in the page's own thread would hold this run for 120 s
        assert started.wait(10)
        at.switch_page("app_pages/classify.py").run()
        wav = io.BytesIO()
        sf.write(wav, synth("song", seconds=7.0, seed=4), 22_050, format="WAV")
        at.file_uploader(key="classify_files").set_value([("song.wav", wav.getvalue(), "audio/wav")]).run()
        assert not at.exception and any('data-genre="' in m.value for m in at.markdown)
        assert classify_data._warm_up_thread().is_alive()
    finally:
        release.set()

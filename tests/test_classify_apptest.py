"""The Classify page's logic through Streamlit's AppTest (no browser), with the shipped default model:
one clip, the content-hash cache, many files, every bad input, the microphone, dataset examples."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest
from synth_audio import synth

from core.features.schema import GENRES
from ui import classify_data

REPO = Path(__file__).resolve().parents[1]
UPLOADS = "classify_files"


def wav(kind: str = "song", seconds: float = 6.0, seed: int = 0, sr: int = 22_050, **kwargs) -> bytes:
    """Synthetic audio as WAV bytes (default: a song the music detector hears as music); ``seed`` makes the
    bytes (and so the cache key) unique per test."""
    buffer = io.BytesIO()
    sf.write(buffer, synth(kind, seconds=seconds, sr=sr, seed=seed, **kwargs), sr, format="WAV")
    return buffer.getvalue()


def classify_page() -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    at.switch_page("app_pages/classify.py").run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key=UPLOADS).set_value([(name, data, "application/octet-stream") for name, data in files]).run()
    assert not at.exception, at.exception
    return at


def html(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def shown_genre(at: AppTest) -> str:
    """The verdict's leading genre as shown (the card names it even when the verdict is said in words)."""
    text = html(at)
    start = text.index('data-genre="') + len('data-genre="')
    return text[start:text.index('"', start)]


def test_one_clip_shows_its_genre_probabilities_and_views():
    at = upload(classify_page(), ("song.wav", wav(seed=1)))
    assert shown_genre(at).lower().replace("-", "") in GENRES
    assert html(at).count('class="cp-bar"') == 5
    assert "confident" in html(at) or "Not a clear call" in html(at)
    assert any("analysed the whole file (0:06)" in c.value for c in at.caption)
    assert [t.label for t in at.tabs] == ["Genre over time", "Waveform", "Mel spectrogram"]
    assert any(h.value.startswith("Why ") for h in at.subheader)
    assert not at.error


def test_the_same_audio_is_analysed_once(monkeypatch):
    calls = []
    real = classify_data.classify
    monkeypatch.setattr(classify_data, "classify", lambda *a, **k: calls.append(1) or real(*a, **k))
    data = wav(seed=2)
    at = upload(classify_page(), ("first.wav", data))
    at.run()  # a plain rerun
    upload(at, ("renamed copy.wav", data))  # same bytes, another name
    assert len(calls) == 1
    upload(at, ("other.wav", wav(seed=3)))
    assert len(calls) == 2


def test_many_files_give_a_table_errors_in_place_and_a_csv():
    at = upload(classify_page(), ("a.wav", wav(seed=4)), ("b.wav", wav(seed=5, freq=330)), ("notes.txt", b"not audio"))
    assert any("**3** files · **2** classified · **1** could not be analysed" in m.value for m in at.markdown)
    assert len(at.error) == 1 and at.error[0].value.startswith("**notes.txt**: ")
    table = at.dataframe[0].value
    assert list(table["file"]) == ["a.wav", "b.wav"]
    assert table["confidence"].between(0, 1).all()
    assert at.get("download_button")[0].label == "Download CSV"
    assert at.selectbox(key="classify_detail").options == ["a.wav", "b.wav"]
    assert shown_genre(at)  # the details of the first file


BAD = {
    "non-audio": (b"just some text, not audio", "not an audio file we can read"),
    "empty": (b"", "The file is empty (0 bytes)."),
    "corrupt": (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4, "not an audio file we can read, or it is damaged"),
    "too short": (wav(seconds=0.4), "too short (0.4 s)"),
    "silence": (wav("silence", seconds=4), "silent"),
    "dc only": (wav("dc", seconds=4), "constant signal"),
}


def test_each_bad_input_gets_its_message_and_nothing_else():
    """Every kind in one batch (each message in place), then one alone (its message and no verdict)."""
    at = upload(classify_page(), *((f"{kind}.wav", data) for kind, (data, _) in BAD.items()))
    assert len(at.error) == len(BAD)
    for error, (kind, (_, message)) in zip(at.error, BAD.items(), strict=True):
        assert error.value.startswith(f"**{kind}.wav**: ") and message in error.value
    assert 'class="cp-genre"' not in html(at)
    upload(at, ("corrupt.wav", BAD["corrupt"][0]))
    assert len(at.error) == 1 and at.error[0].value.startswith("**corrupt.wav**: ")
    assert BAD["corrupt"][1] in at.error[0].value and 'class="cp-genre"' not in html(at)


def test_a_microphone_recording_is_classified():
    at = classify_page()
    at.segmented_control(key="classify_source").set_value("record").run()
    at.audio_input(key="classify_mic").set_value(("recording.wav", wav(seed=6, sr=22_050), "audio/wav")).run()
    assert not at.exception, at.exception
    assert shown_genre(at)
    assert any("**Microphone recording**" in c.value for c in at.caption)


def test_example_clips_come_from_the_dataset_folder(tmp_path, monkeypatch):
    for genre, seed in (("blues", 7), ("metal", 8)):
        (tmp_path / genre).mkdir()
        (tmp_path / genre / f"{genre}.00000.wav").write_bytes(wav(seed=seed))
    monkeypatch.setenv("CPUNK_DATA_DIR", str(tmp_path))
    at = classify_page()
    at.segmented_control(key="classify_source").set_value("example").run()
    assert at.selectbox(key="classify_example").options == ["blues/blues.00000.wav", "metal/metal.00000.wav"]
    assert "the dataset label: <b>Blues</b>" in html(at)
    at.selectbox(key="classify_example").select("metal/metal.00000.wav").run()
    assert "the dataset label: <b>Metal</b>" in html(at)
    at.button[0].click().run()  # "Surprise me" picks one of the clips
    assert at.selectbox(key="classify_example").value in at.selectbox(key="classify_example").options


def test_a_missing_dataset_folder_is_reported_in_the_sidebar(monkeypatch):
    monkeypatch.setenv("CPUNK_DATA_DIR", "/nonexistent/folder")
    at = classify_page()
    assert "Folder not found: `/nonexistent/folder`" in at.sidebar.warning[0].value


def test_without_a_dataset_folder_examples_explain_how_to_get_them(monkeypatch):
    monkeypatch.setenv("CPUNK_DATA_DIR", "")
    at = classify_page()
    at.segmented_control(key="classify_source").set_value("example").run()
    assert any("set one with audio files in the sidebar" in i.value for i in at.info)


def test_without_a_model_the_page_says_how_to_train_one(tmp_path, monkeypatch):
    monkeypatch.setenv("CPUNK_MODELS_DIR", str(tmp_path))
    at = classify_page()
    assert "No trained model found" in at.error[0].value


def test_the_model_picker_preselects_the_default_and_shows_its_facts():
    at = classify_page()
    from core.models.registry import default_name

    picker = at.selectbox(key="classify_model")
    assert picker.value == default_name()
    assert "**Architecture**" in html(at)


def test_the_waveform_envelope_keeps_the_peaks():
    from core.display import waveform_envelope

    y = np.zeros(22_050 * 4, dtype=np.float32)
    y[30_000] = 0.9
    y[60_000] = -0.7
    times, low, high = waveform_envelope(y, 22_050, offset_s=10.0, columns=100)
    assert len(times) <= 100 and times[0] == 10.0
    assert high.max() == pytest.approx(0.9) and low.min() == pytest.approx(-0.7)


def test_the_page_gives_the_verdict_the_cli_gives(tmp_path):
    """A 105-s stereo song (35 windows; the analysis limit spreads 32 over it, two network batches, so the
    page shows a verdict of the first part on the way): the final verdict on the page equals the CLI's for
    the same file and analysis limit, and both say which windows they read."""
    import pandas as pd

    from core.cli import main
    from core.models.registry import model_info
    from ui.classify_views import genre_name, percent

    data = wav(seconds=105.0, seed=9, sr=44_100, channels=2)
    at = upload(classify_page(), ("song.wav", data))
    (tmp_path / "song.wav").write_bytes(data)
    assert main(["predict", str(tmp_path / "song.wav"), "--workers", "1", "--out", str(tmp_path / "p.csv")]) == 0
    row = pd.read_csv(tmp_path / "p.csv").iloc[0]
    assert shown_genre(at).startswith((genre_name(row["genre"]), "Somewhere between " + genre_name(row["genre"]),
                                       "No clear genre: closest are " + genre_name(row["genre"])))
    assert f"<b>{percent(row['confidence'])}</b>" in html(at)
    key = classify_data.model_key(model_info(at.selectbox(key="classify_model").value))
    page = classify_data.cached(classify_data.Clip("song.wav", data), key)
    np.testing.assert_allclose(page.probabilities, row[[f"p_{g}" for g in page.classes]].to_numpy(float), atol=1e-4)
    assert row["analysed"] == page.analysed() == "the whole file (1:45), 32 of its 35 windows of 3 s spread evenly"
    assert any(page.analysed() in c.value for c in at.caption)
    assert any(c.value.startswith("32 3-s windows spread evenly over the analysed part (of the 35") for c in at.caption)


def test_progress_says_what_happens_and_how_long_is_left():
    from core.predict import Progress
    from ui.classify_views import partial_verdict_html, progress_text

    listening = Progress("listening", 20, 80, np.array([0.1, 0.7, 0.2]), elapsed_s=3.0, listening_s=2.0)
    assert progress_text("song.mp3", listening) == "Listening to song.mp3: 20 of 80 windows · about 6 s left"
    card = partial_verdict_html(("blues", "classical", "metal"), listening)
    assert "the first 25% of the song" in card and ">Classical<" in card and "cp-partial" in card
    assert progress_text("song.mp3", Progress("decoding", 0, 0, None, 0.1, 0.0)) == "Decoding song.mp3…"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_a_song_that_starts_with_talking_gets_a_genre_and_the_talking_is_marked():
    from core.data import nonmusic
    from core.models.music_detector import music_detector
    from core.models.registry import load_model

    if music_detector(load_model(None).info.card.reliability) is None:
        pytest.skip("the default model has no music detector")
    talk = nonmusic.make_clip("speech", "monologue", seed=4, seconds=9.0, sr=22_050).y
    music = synth("song", seconds=21.0, seed=4)[:, 0]
    buffer = io.BytesIO()
    sf.write(buffer, np.concatenate([talk / max(1e-6, float(np.abs(talk).max())) * 0.5, music]), 22_050, format="WAV")
    at = upload(classify_page(), ("intro-then-song.wav", buffer.getvalue()))
    assert shown_genre(at).lower().replace("-", "") in GENRES
    timeline = next(c for c in at.get("plotly_chart") if "not music" in c.proto.spec)
    assert timeline.proto.spec.count('"not music"') >= 2  # the first windows: the talking
    assert any("do not sound like music" in c.value and "the verdict reads only the others" in c.value
               for c in at.caption)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_talking_into_the_microphone_is_not_music():
    from core.data import nonmusic
    from core.data.augment import augment
    from core.models.music_detector import music_detector
    from core.models.registry import load_model

    if music_detector(load_model(None).info.card.reliability) is None:
        pytest.skip("the default model has no music detector")
    talk = nonmusic.make_clip("speech", "monologue", seed=8, seconds=7.0, sr=48_000).y  # a browser records 48 kHz
    quiet = augment(talk / max(1e-6, float(np.sqrt(np.mean(talk**2)))) * 0.02, 48_000, ["room", "noise"],
                    np.random.default_rng(8))  # about -34 dBFS, in a room
    buffer = io.BytesIO()
    sf.write(buffer, quiet, 48_000, format="WAV")
    at = classify_page()
    at.segmented_control(key="classify_source").set_value("record").run()
    at.audio_input(key="classify_mic").set_value(("recording.wav", buffer.getvalue(), "audio/wav")).run()
    assert not at.exception, at.exception
    assert "t sound like music</div>" in html(at) and not shown_genre(at)  # the card's headline, HTML-escaped

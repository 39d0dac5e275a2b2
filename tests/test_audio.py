"""core.audio: every kind of bad input gets one clear AudioError; odd but valid input loads."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio import SAMPLE_RATE, AnalysisLimit, AudioError, load_audio


@pytest.mark.parametrize("name", ["x.wav", "x.flac", "x.ogg", "x.mp3"])
def test_formats_load_from_path_bytes_and_file_objects(make_wav, name):
    path = make_wav("music", name=name, seconds=3.0, sr=44_100, channels=2)
    data = path.read_bytes()
    for source in (path, str(path), data, bytearray(data), io.BytesIO(data)):
        audio = load_audio(source)
        assert audio.sr == SAMPLE_RATE and audio.y.dtype == np.float32 and audio.y.ndim == 1
        assert audio.duration_s == pytest.approx(3.0, abs=0.06)  # MP3 adds encoder padding
        assert audio.info.sample_rate == 44_100 and audio.info.channels == 2
        assert not audio.partial and not audio.warnings
        assert audio.info.format == name.split(".")[1].upper()


@pytest.fixture(scope="module")
def m4a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of AAC in an M4A container, as phones record, made by ffmpeg before any test hides it from PATH."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed: no M4A can be made (scripts/test.sh installs it)")
    folder = tmp_path_factory.mktemp("m4a")
    sf.write(folder / "voice.wav", 0.3 * np.sin(2 * np.pi * 330 * np.arange(2 * 44_100) / 44_100), 44_100)
    subprocess.run([ffmpeg, "-v", "error", "-i", str(folder / "voice.wav"), "-c:a", "aac", "-b:a", "64k",
                    str(folder / "voice.m4a")], check=True, timeout=60)
    return folder / "voice.m4a"


def test_a_phone_recording_m4a_decodes_through_ffmpeg_or_says_it_needs_it(m4a, ffmpeg):
    if not ffmpeg:
        with pytest.raises(AudioError, match="it looks like M4A/AAC, which needs ffmpeg, and ffmpeg is not installed"):
            load_audio(m4a)
        return
    audio = load_audio(m4a)
    assert audio.info.decoder == "ffmpeg" and audio.info.sample_rate == 44_100
    assert audio.duration_s == pytest.approx(2.0, abs=0.1) and not audio.warnings


@pytest.mark.parametrize(("sr", "channels"), [(96_000, 2), (8_000, 1), (48_000, 6)])
def test_unusual_rates_and_channels_are_downmixed_and_resampled(make_wav, sr, channels):
    audio = load_audio(make_wav("tone", sr=sr, channels=channels, seconds=2.0, subtype="PCM_24"))
    assert audio.sr == SAMPLE_RATE and len(audio.y) == pytest.approx(2 * SAMPLE_RATE, abs=2)
    assert (audio.info.sample_rate, audio.info.channels) == (sr, channels)
    spectrum = np.abs(np.fft.rfft(audio.y))
    freqs = np.fft.rfftfreq(len(audio.y), 1 / SAMPLE_RATE)
    for ch in range(channels):  # make_wav puts a tone a fifth higher on each further channel
        assert spectrum[np.abs(freqs - 440 * 1.5**ch).argmin()] > 0.5 * spectrum.max()


def test_resampled_level_is_kept(make_wav):
    audio = load_audio(make_wav("tone", sr=48_000, amplitude=0.5, seconds=2.0))
    assert np.max(np.abs(audio.y)) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(("data", "message"), [
    (b"", r"empty \(0 bytes\)"),
    (b"hello, this is a text file and not audio at all" * 20, r"not an audio file we can read"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", r"not an audio file we can read"),
])
def test_not_audio(data, message):
    with pytest.raises(AudioError, match=message):
        load_audio(data)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="absent.wav: file not found"):
        load_audio(tmp_path / "absent.wav")


def test_gtzan_corrupt_file(shared_data):
    with pytest.raises(AudioError, match="jazz.00054.wav is not an audio file we can read, or it is damaged"):
        load_audio(shared_data / "bad_audio" / "jazz.00054.wav")


def test_truncated_wav_is_analysed_as_far_as_it_goes_and_says_so(make_wav):
    data = make_wav("music", seconds=10.0).read_bytes()
    audio = load_audio(data[: len(data) // 2])
    assert audio.duration_s == pytest.approx(5.0, abs=0.1)
    assert audio.warnings == ("The file ends early: 0:05 of the 0:10 its header declares could be decoded.",)


def test_header_only_wav_has_no_audio(make_wav):
    data = make_wav("music", seconds=1.0).read_bytes()
    with pytest.raises(AudioError, match="truncated or damaged: it contains no decodable audio"):
        load_audio(data[:44])


def test_truncated_flac(make_wav):
    data = make_wav("music", name="x.flac", seconds=10.0).read_bytes()
    try:
        audio = load_audio(data[: len(data) // 2])
    except AudioError as exc:  # either a clear error ...
        assert "damaged" in str(exc) or "truncated" in str(exc)
    else:  # ... or the decodable part, with a warning
        assert audio.duration_s < 9.0 and audio.warnings


@pytest.mark.parametrize(("kind", "seconds", "message"), [
    ("music", 0.5, r"too short \(0.5 s\)"),
    ("silence", 3.0, "silent"),
    ("dc", 3.0, "constant signal"),
])
def test_unusable_content(make_wav, kind, seconds, message):
    with pytest.raises(AudioError, match=message):
        load_audio(make_wav(kind, seconds=seconds))


def test_absurd_sample_rate(tmp_path):
    path = tmp_path / "slow.wav"
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, 2_000), 500)
    with pytest.raises(AudioError, match="500 Hz.*outside the range"):
        load_audio(path)


def test_too_many_channels(tmp_path):
    path = tmp_path / "wide.wav"
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, (2_000, 80)).astype(np.float32), 8_000)
    with pytest.raises(AudioError, match="80 channels; at most 64"):
        load_audio(path)


def test_nan_in_float_wav(tmp_path):
    y = np.random.default_rng(0).uniform(-0.5, 0.5, SAMPLE_RATE * 2).astype(np.float32)
    y[1000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="invalid sample values"):
        load_audio(path)


def test_over_the_size_limit(make_wav):
    with pytest.raises(AudioError, match="too large"):
        load_audio(make_wav("music", seconds=2.0), max_bytes=10_000)


def test_long_file_is_limited_and_says_so(tmp_path):
    path = tmp_path / "long.wav"
    rate, minutes = 8_000, 20
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as f:  # 20 min of a tone, written in blocks
        block = (0.3 * np.sin(2 * np.pi * 220 * np.arange(60 * rate) / rate)).astype(np.float32)
        for _ in range(minutes):
            f.write(block)
    audio = load_audio(path)
    assert audio.duration_s == pytest.approx(AnalysisLimit().max_seconds, abs=0.01)
    assert audio.partial and audio.analysed_part() == "0:00–10:00 of 20:00"
    window = load_audio(path, limit=AnalysisLimit(max_seconds=30, offset_s=900))
    assert window.duration_s == pytest.approx(30, abs=0.01) and window.analysed_part() == "15:00–15:30 of 20:00"
    with pytest.raises(AudioError, match="shorter than that"):
        load_audio(path, limit=AnalysisLimit(offset_s=1500))


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_the_downmix_equals_the_float64_mean_of_the_channels(channels) -> None:
    from core.audio import _downmix

    block = np.random.default_rng(channels).normal(0, 0.3, (44_100, channels)).astype(np.float32)
    expected = block.mean(axis=1, dtype=np.float64).astype(np.float32)
    assert _downmix(block).dtype == np.float32 and np.array_equal(_downmix(block), expected)

"""Shared test fixtures: the development data folder and synthetic audio files.

Tests never need the GTZAN clips unless they test real music: ``shared_data`` skips the test when
``../shared/data`` is missing, and ``make_wav`` writes synthetic audio (tones, noise, clicks,
silence, ...) of any rate, channel count, length and subtype into the test's ``tmp_path``.
"""

from __future__ import annotations

import os

# Keep every test process lean on the shared 2-core machine (set before numpy/TensorFlow load).
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (GTZAN excerpts and published features); skips when it is not there."""
    if not (SHARED_DATA / "gtzan").is_dir():
        pytest.skip(f"development data not found at {SHARED_DATA}")
    return SHARED_DATA


def synth(kind: str = "tone", *, sr: int = 22_050, seconds: float = 3.0, channels: int = 1,
          freq: float = 440.0, amplitude: float = 0.5, seed: int = 0) -> np.ndarray:
    """Synthetic audio, shape (samples, channels) float32.

    ``kind``: ``tone`` (sine at ``freq``, each channel a fifth higher), ``chord`` (three tones),
    ``noise`` (white), ``clicks`` (a click every 0.5 s: a steady 120 bpm pulse), ``music``
    (chord + clicks + a little noise: exercises every feature), ``silence`` (zeros), ``dc``
    (constant ``amplitude``).
    """
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)

    def tone(f: float) -> np.ndarray:
        return np.sin(2 * np.pi * f * t)

    def clicks() -> np.ndarray:
        y = np.zeros(n)
        width = max(1, sr // 200)
        for start in range(0, n, sr // 2):
            y[start:start + width] = np.hanning(2 * width)[width:][: n - start]
        return y

    columns = []
    for ch in range(channels):
        f = freq * 1.5**ch
        y = {
            "tone": lambda: tone(f),
            "chord": lambda: (tone(f) + tone(f * 1.26) + tone(f * 1.5)) / 3,
            "noise": lambda: rng.uniform(-1, 1, n),
            "clicks": clicks,
            "music": lambda: 0.5 * (tone(f) + tone(f * 1.26)) / 2 + 0.4 * clicks() + 0.05 * rng.uniform(-1, 1, n),
            "silence": lambda: np.zeros(n),
            "dc": lambda: np.ones(n),
        }[kind]()
        columns.append(amplitude * y)
    return np.stack(columns, axis=1).astype(np.float32)


@pytest.fixture
def make_wav(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing synthetic audio into ``tmp_path``; returns the file's path.

    ``make_wav("music", seconds=30, sr=44_100, channels=2, name="x.flac", subtype="PCM_24")``;
    the format follows the name's extension (wav, flac, ogg, mp3); other keywords go to :func:`synth`.
    """
    def make(kind: str = "tone", *, name: str | None = None, sr: int = 22_050, subtype: str | None = None,
             **kwargs) -> Path:
        path = tmp_path / (name or f"{kind}.wav")
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, synth(kind, sr=sr, **kwargs), sr, subtype=subtype)
        return path

    return make

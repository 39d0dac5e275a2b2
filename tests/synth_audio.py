"""Synthetic test audio (importable by any test module: ``from synth_audio import synth``)."""

from __future__ import annotations

import numpy as np


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

"""Synthetic test audio (importable by any test module: ``from synth_audio import synth``)."""

from __future__ import annotations

import numpy as np


def synth(kind: str = "tone", *, sr: int = 22_050, seconds: float = 3.0, channels: int = 1,
          freq: float = 440.0, amplitude: float = 0.5, seed: int = 0) -> np.ndarray:
    """Synthetic audio, shape (samples, channels) float32.

    ``kind``: ``tone`` (sine at ``freq``, each channel a fifth higher), ``chord`` (three tones),
    ``noise`` (white), ``clicks`` (a click every 0.5 s: a steady 120 bpm pulse), ``music``
    (chord + clicks + a little noise: exercises every feature), ``silence`` (zeros), ``dc``
    (constant ``amplitude``), ``song`` (:func:`song`: drums, bass, chords and a melody; the default
    model's music detector hears it as music, where it hears ``music`` as tones and clicks).
    """
    if kind == "song":
        return np.repeat(amplitude / 0.5 * song(seconds, sr, seed)[:, None], channels, axis=1)
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


def song(seconds: float = 6.0, sr: int = 22_050, seed: int = 0, bpm: float = 100.0) -> np.ndarray:
    """A synthetic pop song at peak 0.5: kick, snare and hi-hat, a bass line, a four-chord progression
    (A F C G) and a random melody over it."""
    rng = np.random.default_rng(seed)
    n, beat = int(round(seconds * sr)), 60 / bpm
    y = np.zeros(n)

    def add(start: float, sound: np.ndarray) -> None:
        s = int(start * sr)
        y[s:s + len(sound)] += sound[: max(0, n - s)]

    def t(length: float) -> np.ndarray:
        return np.arange(int(length * sr)) / sr

    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t(0.25) * 30)) * t(0.25)) * np.exp(-t(0.25) * 12)
    snare = 0.6 * rng.uniform(-1, 1, len(t(0.2))) * np.exp(-t(0.2) * 25)
    hat = 0.25 * rng.uniform(-1, 1, len(t(0.05))) * np.exp(-t(0.05) * 80)
    for i, start in enumerate(np.arange(0, seconds, beat / 2)):
        add(start, hat)
        add(start, kick if i % 4 == 0 else snare if i % 4 == 2 else np.zeros(0))
    for bar, start in enumerate(np.arange(0, seconds, 4 * beat)):
        root, tt = (220.0, 174.6, 261.6, 196.0)[bar % 4], t(4 * beat)
        chord = sum(0.08 * np.sign(np.sin(2 * np.pi * root * r * tt)) + 0.1 * np.sin(2 * np.pi * root * r * tt)
                    for r in (1, 1.26, 1.5))
        bass = 0.4 * np.sin(2 * np.pi * root / 4 * tt) * np.exp(-(tt % beat) * 4)
        add(start, (chord + bass) * np.minimum(1, tt * 20) * np.exp(-tt * 0.5))
        for j in range(8):
            f, mt = root * 2 * rng.choice([1, 1.125, 1.26, 1.5, 1.68, 2]), t(beat / 2)
            add(start + j * beat / 2, 0.15 * np.sin(2 * np.pi * f * mt + 2 * np.sin(4 * np.pi * f * mt) * np.exp(-mt * 8))
                * np.exp(-mt * 6))
    return (0.5 * y / (np.abs(y).max() + 1e-12)).astype(np.float32)

"""The plain recipe: one separate librosa call per feature, each on the raw signal.

This is how the seed project (and the published GTZAN tables) computed features. It is slow on
purpose: every call recomputes its own STFT, and slices are cut from the audio and analysed one by
one. Tests compare :mod:`core.features` against it; the benchmark uses it as the baseline.
"""

from __future__ import annotations

import librosa
import numpy as np

from core.audio import SAMPLE_RATE
from core.features import SLICE_SECONDS, slice_starts
from core.schema import SEED, FeatureSchema


def _hpss(y: np.ndarray, _cache: dict = {}) -> tuple[np.ndarray, np.ndarray]:
    """librosa.effects.hpss once per signal (the recipe computes both parts in one call)."""
    key = (id(y), len(y))
    if key not in _cache:
        _cache.clear()
        _cache[key] = librosa.effects.hpss(y)
    return _cache[key]


def _signal(y: np.ndarray, sr: int, name: str, rows: int) -> np.ndarray:
    if name == "mfcc":
        return librosa.feature.mfcc(y=y, sr=sr, n_mfcc=rows)
    if name == "chroma":
        return librosa.feature.chroma_stft(y=y, sr=sr)
    if name == "tonnetz":
        return librosa.feature.tonnetz(y=y, sr=sr, chroma=librosa.feature.chroma_stft(y=y, sr=sr))
    if name == "centroid":
        return librosa.feature.spectral_centroid(y=y, sr=sr)
    if name == "bandwidth":
        return librosa.feature.spectral_bandwidth(y=y, sr=sr)
    if name == "rolloff":
        return librosa.feature.spectral_rolloff(y=y, sr=sr)
    if name == "contrast":
        return librosa.feature.spectral_contrast(y=y, sr=sr)
    if name == "rms":
        return librosa.feature.rms(y=y)
    if name == "zcr":
        return librosa.feature.zero_crossing_rate(y)
    if name in ("harmonic", "percussive"):
        return _hpss(y)[name == "percussive"][None, :]
    if name == "tempo":
        return librosa.feature.tempo(y=y, sr=sr)[None, :]
    raise KeyError(name)


def reference_row(y: np.ndarray, sr: int = SAMPLE_RATE, schema: FeatureSchema = SEED) -> np.ndarray:
    """One schema row for the whole of ``y``, feature by feature."""
    values: list[float] = []
    for group in schema.groups:
        data = _signal(y, sr, group.signal, group.rows)[: group.rows]
        if group.aggregate == "scalar":
            values.append(float(data[0, 0]))
        elif group.aggregate == "pooled":
            values += [float(np.mean(data)), float(np.var(data))]
        else:
            for mean, var in zip(np.mean(data, axis=1), np.var(data, axis=1)):
                values += [float(mean), float(var)]
    return np.asarray(values, dtype=np.float64)


def reference_slices(y: np.ndarray, sr: int = SAMPLE_RATE, schema: FeatureSchema = SEED,
                     slice_seconds: float = SLICE_SECONDS, max_slices: int | None = None) -> np.ndarray:
    """One row per slice, each slice cut from the audio and analysed on its own."""
    length = int(round(slice_seconds * sr))
    starts = slice_starts(len(y), sr, slice_seconds, max_slices=max_slices)
    return np.vstack([reference_row(y[s:s + length], sr, schema) for s in starts])

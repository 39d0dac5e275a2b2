"""The plain recipe: one separate librosa call per feature, each on the raw signal.

This is how the seed project (and the published GTZAN tables) computed features. It is slow on
purpose: every call recomputes its own STFT. Tests compare :mod:`core.features.extract` against it; the
benchmark uses it as the baseline.

Two ways to describe a slice:

- :func:`reference_slices` cuts each slice out of the audio and analyses it alone (the seed's and the
  published 3-s table's way: zero padding at the cut, per-slice dB floor and tuning);
- :func:`reference_frame_slices` analyses the whole track and summarises the frames that fall in
  each slice, which is what :func:`core.features.extract.extract` does, feature by feature.
"""

from __future__ import annotations

import librosa
import numpy as np

from core.audio import SAMPLE_RATE
from core.features.extract import HOP, SLICE_SECONDS, frame_ranges, slice_starts
from core.features.schema import SEED, FeatureSchema


def _signal(y: np.ndarray, sr: int, name: str, rows: int, hpss: dict) -> np.ndarray:
    """Whole-recording matrix of one signal (rows x frames; samples for harmonic/percussive)."""
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
        if not hpss:  # the recipe computes both parts with one librosa.effects.hpss call
            hpss["harmonic"], hpss["percussive"] = librosa.effects.hpss(y)
        return hpss[name][None, :]
    if name == "tempo":  # the onset envelope librosa.feature.tempo(y=y) estimates from
        return librosa.onset.onset_strength(y=y, sr=sr)[None, :]
    raise KeyError(name)


def _signals(y: np.ndarray, sr: int, schema: FeatureSchema) -> list[np.ndarray]:
    """One plain librosa computation per group of ``schema``, in order."""
    hpss: dict[str, np.ndarray] = {}
    return [_signal(y, sr, g.signal, g.rows, hpss)[: g.rows] for g in schema.groups]


def _row(signals: list[np.ndarray], sr: int, schema: FeatureSchema, frames: slice, samples: slice) -> np.ndarray:
    """Summarise a frame range (a sample range for sample-level signals) into one schema row."""
    values: list[float] = []
    for group, signal in zip(schema.groups, signals):
        if group.aggregate == "scalar":
            values.append(float(librosa.feature.tempo(onset_envelope=signal[0, frames], sr=sr)[0]))
            continue
        data = signal[:, samples] if group.signal in ("harmonic", "percussive") else signal[:, frames]
        if group.aggregate == "pooled":
            values += [float(np.mean(data)), float(np.var(data))]
        else:
            for mean, var in zip(np.mean(data, axis=1), np.var(data, axis=1)):
                values += [float(mean), float(var)]
    return np.asarray(values, dtype=np.float64)


def reference_row(y: np.ndarray, sr: int = SAMPLE_RATE, schema: FeatureSchema = SEED) -> np.ndarray:
    """One schema row for the whole of ``y``, feature by feature."""
    return _row(_signals(y, sr, schema), sr, schema, slice(None), slice(None))


def reference_slices(y: np.ndarray, sr: int = SAMPLE_RATE, schema: FeatureSchema = SEED,
                     slice_seconds: float = SLICE_SECONDS, max_slices: int | None = None) -> np.ndarray:
    """One row per slice, each slice cut from the audio and analysed on its own."""
    length = int(round(slice_seconds * sr))
    starts = slice_starts(len(y), sr, slice_seconds, max_slices=max_slices)
    return np.vstack([reference_row(y[s:s + length], sr, schema) for s in starts])


def reference_frame_slices(y: np.ndarray, sr: int = SAMPLE_RATE, schema: FeatureSchema = SEED,
                           slice_seconds: float = SLICE_SECONDS, max_slices: int | None = None) -> np.ndarray:
    """One row per slice from whole-track features: each slice summarises the frames centred in it."""
    length = int(round(slice_seconds * sr))
    starts = slice_starts(len(y), sr, slice_seconds, max_slices=max_slices)
    stops = np.minimum(starts + length, len(y))
    signals = _signals(y, sr, schema)
    first, last = frame_ranges(starts, stops, len(y), 1 + len(y) // HOP)  # librosa's centred frames
    return np.vstack([_row(signals, sr, schema, slice(a, b), slice(s, e))
                      for a, b, s, e in zip(first, last, starts, stops)])

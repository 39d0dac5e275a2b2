"""Fast feature extraction: one STFT per signal, frame-level features computed once, then aggregated.

:func:`compute_signals` turns audio into frame-level matrices (every spectral feature derived from
the same STFT, the mel spectrogram shared by MFCCs and the onset envelope); :func:`aggregate`
summarises any time range of them into a schema row. :func:`extract` does both for the whole track
and its slices, so slices never recompute a transform. Values equal the plain per-feature librosa
recipe in :mod:`core.reference` (see ``tests/test_features.py`` for the tolerance).
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import pandas as pd

from core.audio import SAMPLE_RATE
from core.schema import IDENTITY_COLUMNS, SEED, WHOLE_TRACK, FeatureSchema

N_FFT = 2048
HOP = 512
N_MFCC = 20  # enough for both schemas; the seed uses the first 13
SLICE_SECONDS = 3.0

# Signals that live on the sample axis rather than the frame axis.
SAMPLE_SIGNALS = frozenset({"harmonic", "percussive"})


@dataclass
class Signals:
    """Frame-level matrices (rows x frames) and sample-level signals of one recording."""

    sr: int
    n_samples: int
    frames: dict[str, np.ndarray]
    samples: dict[str, np.ndarray]
    onset: np.ndarray
    log_mel: np.ndarray

    @property
    def n_frames(self) -> int:
        return self.log_mel.shape[-1]


def compute_signals(y: np.ndarray, sr: int = SAMPLE_RATE, needed: frozenset[str] = SEED.signals) -> Signals:
    """Compute every frame-level signal in ``needed`` from a single STFT of ``y``."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    stft = librosa.stft(y, n_fft=N_FFT, hop_length=HOP)
    mag = np.abs(stft)
    power = mag**2
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr))
    frames: dict[str, np.ndarray] = {}
    if "mfcc" in needed:
        frames["mfcc"] = librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC)
    if needed & {"chroma", "tonnetz"}:
        frames["chroma"] = librosa.feature.chroma_stft(S=power, sr=sr)
    if "tonnetz" in needed:
        frames["tonnetz"] = librosa.feature.tonnetz(chroma=frames["chroma"], sr=sr)
    if needed & {"centroid", "bandwidth"}:
        frames["centroid"] = librosa.feature.spectral_centroid(S=mag, sr=sr)
    if "bandwidth" in needed:
        frames["bandwidth"] = librosa.feature.spectral_bandwidth(S=mag, sr=sr, centroid=frames["centroid"])
    if "rolloff" in needed:
        frames["rolloff"] = librosa.feature.spectral_rolloff(S=mag, sr=sr)
    if "contrast" in needed:
        frames["contrast"] = librosa.feature.spectral_contrast(S=mag, sr=sr)
    if "rms" in needed:
        frames["rms"] = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)
    if "zcr" in needed:
        frames["zcr"] = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)
    samples: dict[str, np.ndarray] = {}
    if needed & SAMPLE_SIGNALS:
        harm, perc = librosa.decompose.hpss(stft)
        samples["harmonic"] = librosa.istft(harm, hop_length=HOP, n_fft=N_FFT, length=len(y), dtype=y.dtype)
        samples["percussive"] = librosa.istft(perc, hop_length=HOP, n_fft=N_FFT, length=len(y), dtype=y.dtype)
    onset = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=HOP)
    return Signals(sr, len(y), frames, samples, onset, log_mel)


def _frame_range(start: int, stop: int) -> slice:
    """Frames whose centre (frame * HOP) lies in samples [start, stop)."""
    return slice(-(-start // HOP), -(-stop // HOP))


def aggregate(signals: Signals, schema: FeatureSchema, start: int = 0, stop: int | None = None) -> np.ndarray:
    """One schema row summarising samples ``[start, stop)`` of the signals (float64)."""
    stop = signals.n_samples if stop is None else stop
    frames = _frame_range(start, stop)
    values: list[float] = []
    for group in schema.groups:
        if group.aggregate == "scalar":  # tempo
            envelope = signals.onset[frames]
            values.append(float(librosa.feature.tempo(onset_envelope=envelope, sr=signals.sr, hop_length=HOP)[0]))
            continue
        if group.signal in SAMPLE_SIGNALS:
            data = signals.samples[group.signal][start:stop][None, :]
        else:
            data = signals.frames[group.signal][: group.rows, frames]
        if group.aggregate == "pooled":
            values += [float(np.mean(data)), float(np.var(data))]
        else:
            for mean, var in zip(np.mean(data, axis=1), np.var(data, axis=1)):
                values += [float(mean), float(var)]
    return np.asarray(values, dtype=np.float64)


def slice_starts(n_samples: int, sr: int = SAMPLE_RATE, seconds: float = SLICE_SECONDS,
                 hop_seconds: float | None = None, max_slices: int | None = None) -> np.ndarray:
    """Start samples of the full-length slices of a recording (non-overlapping by default).

    A recording shorter than one slice gets a single slice covering all of it.
    """
    length = int(round(seconds * sr))
    step = int(round((hop_seconds or seconds) * sr))
    if n_samples < length:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_samples - length + 1, step, dtype=np.int64)
    return starts if max_slices is None else starts[:max_slices]


@dataclass
class Extraction:
    """Feature rows of one recording: the whole track and its slices."""

    schema: FeatureSchema
    sr: int
    track: np.ndarray  # (n_features,)
    slices: np.ndarray  # (n_slices, n_features)
    slice_starts: np.ndarray  # samples
    slice_length: int  # samples
    n_samples: int

    def table(self, track_id: str, path: str = "", label: str = "", include_track: bool = True) -> pd.DataFrame:
        """Rows in feature-table layout: identity columns, then the schema's columns."""
        values = np.vstack([self.track[None, :], self.slices]) if include_track else self.slices
        slices = list(range(len(self.slices)))
        starts = list(self.slice_starts / self.sr)
        durations = [min(self.slice_length, self.n_samples - s) / self.sr for s in self.slice_starts]
        if include_track:
            slices, starts, durations = [WHOLE_TRACK, *slices], [0.0, *starts], [self.n_samples / self.sr, *durations]
        identity = pd.DataFrame({
            "track_id": track_id, "path": path, "label": label,
            "slice": np.asarray(slices, dtype=np.int32),
            "start_s": np.asarray(starts, dtype=np.float64),
            "duration_s": np.asarray(durations, dtype=np.float64),
            "schema_version": self.schema.id,
        }, index=range(len(values)))
        return pd.concat([identity, pd.DataFrame(values, columns=list(self.schema.columns))], axis=1)[
            list(IDENTITY_COLUMNS) + list(self.schema.columns)]


def extract_signals(signals: Signals, schema: FeatureSchema = SEED, *, slice_seconds: float = SLICE_SECONDS,
                    hop_seconds: float | None = None, max_slices: int | None = None) -> Extraction:
    """Whole-track row and slice rows from already computed signals."""
    starts = slice_starts(signals.n_samples, signals.sr, slice_seconds, hop_seconds, max_slices)
    length = int(round(slice_seconds * signals.sr))
    rows = [aggregate(signals, schema, int(s), min(int(s) + length, signals.n_samples)) for s in starts]
    slices = np.vstack(rows) if rows else np.zeros((0, len(schema.columns)))
    return Extraction(schema, signals.sr, aggregate(signals, schema), slices, starts, length, signals.n_samples)


def extract(y: np.ndarray, sr: int = SAMPLE_RATE, schema: FeatureSchema = SEED, *,
            slice_seconds: float = SLICE_SECONDS, hop_seconds: float | None = None,
            max_slices: int | None = None) -> Extraction:
    """Features of ``y``: one whole-track row and one row per slice, from a single STFT."""
    signals = compute_signals(y, sr, schema.signals)
    return extract_signals(signals, schema, slice_seconds=slice_seconds, hop_seconds=hop_seconds,
                           max_slices=max_slices)

"""Fast feature extraction: one STFT per signal, frame-level features computed once, then aggregated.

:func:`compute_signals` turns audio into frame-level matrices (every spectral feature derived from
the same STFT, taken in blocks of frames so long recordings stay small in memory; the mel
spectrogram shared by MFCCs and the onset envelope); :func:`aggregate` summarises any set of time
ranges of them into schema rows in one vectorised pass. :func:`extract` does both for the whole
track and its slices, so slices never recompute a transform. Values equal the plain per-feature
librosa recipe in :mod:`core.features.reference` up to float rounding (relative 1e-5; see
``tests/test_features.py``). Slice rows summarise the whole track's frames centred in each slice,
unlike the seed's cut-and-analyse slices (:func:`core.features.reference.reference_slices`).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import librosa
import numpy as np
import pandas as pd

from core.audio import SAMPLE_RATE
from core.features import spectral
from core.features.schema import IDENTITY_COLUMNS, SEED, WHOLE_TRACK, FeatureSchema

N_FFT = 2048
HOP = 512
N_MFCC = 20  # enough for both schemas; the seed uses the first 13
SLICE_SECONDS = 3.0
BLOCK_FRAMES = 2048  # STFT frames per block (~47 s): bounds the memory of long recordings
TEMPO_BATCH = 32  # slices per tempo call: fewer calls, bounded memory
TEMPO_WINDOW_S = 8.0  # librosa.feature.tempo's default autocorrelation window (ac_size)

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


def _blocks(y: np.ndarray) -> Iterator[np.ndarray]:
    """The zero-padded samples of consecutive blocks of :data:`BLOCK_FRAMES` centred frames.

    Block ``b`` holds frames ``b*BLOCK_FRAMES ...`` as non-centred frames of the returned samples, so
    ``librosa.stft(block, center=False)`` gives exactly those columns of ``librosa.stft(y)``.
    """
    n_frames = 1 + len(y) // HOP
    for f0 in range(0, n_frames, BLOCK_FRAMES):
        start, stop = f0 * HOP - N_FFT // 2, (min(f0 + BLOCK_FRAMES, n_frames) - 1) * HOP + N_FFT // 2
        block = np.zeros(stop - start, dtype=y.dtype)
        block[max(0, -start): min(stop, len(y)) - start] = y[max(0, start): stop]
        yield block


def _stft(block: np.ndarray) -> np.ndarray:
    return librosa.stft(block, n_fft=N_FFT, hop_length=HOP, center=False)


def compute_signals(y: np.ndarray, sr: int = SAMPLE_RATE, needed: frozenset[str] = SEED.signals) -> Signals:
    """Compute every frame-level signal in ``needed`` from a single STFT of ``y``.

    Each matrix equals what the named librosa call returns on ``y`` (see :mod:`core.features.spectral` for the
    ones computed another way, and their tolerance). The STFT is taken in blocks of frames, so a long
    recording never holds its whole spectrogram (except for harmonic/percussive separation); when
    there are several blocks, a first pass over them gathers the global tuning estimate for chroma.
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    chroma = bool(needed & {"chroma", "tonnetz"})
    tuning = None
    if chroma and len(y) // HOP >= BLOCK_FRAMES:  # more than one block
        peaks = [spectral.pitch_peaks(np.square(np.abs(_stft(b))), sr, N_FFT) for b in _blocks(y)]
        pitches, mags = (np.concatenate(p) for p in zip(*peaks))
        tuning = spectral.tuning_of_peaks(pitches, mags)
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    for block in _blocks(y):
        stft = _stft(block)
        mag = np.abs(stft)
        power = np.square(mag)
        parts["mel"].append(librosa.feature.melspectrogram(S=power, sr=sr))
        if chroma:
            block_tuning = spectral.estimate_tuning(power, sr, N_FFT) if tuning is None else tuning
            parts["chroma"].append(librosa.feature.chroma_stft(S=power, sr=sr, tuning=block_tuning))
        if needed & {"centroid", "bandwidth"}:
            for name, value in zip(("centroid", "bandwidth"), spectral.centroid_bandwidth(mag, sr, N_FFT)):
                parts[name].append(value)
        if "rolloff" in needed:
            parts["rolloff"].append(spectral.rolloff(mag, sr, N_FFT))
        if "contrast" in needed:
            parts["contrast"].append(librosa.feature.spectral_contrast(S=mag, sr=sr))
        if "rms" in needed:
            parts["rms"].append(librosa.feature.rms(y=block, frame_length=N_FFT, hop_length=HOP, center=False))
        if needed & SAMPLE_SIGNALS:
            parts["stft"].append(stft)
    joined = {name: np.concatenate(p, axis=-1) for name, p in parts.items()}
    log_mel = librosa.power_to_db(joined.pop("mel"))  # dB floor relative to the whole recording's peak
    complex_stft = joined.pop("stft") if "stft" in joined else None
    frames = joined
    if "mfcc" in needed:
        frames["mfcc"] = librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC)
    if "tonnetz" in needed:
        frames["tonnetz"] = librosa.feature.tonnetz(chroma=frames["chroma"], sr=sr)
    if "zcr" in needed:
        frames["zcr"] = spectral.zero_crossing_rate(y, N_FFT, HOP)
    samples: dict[str, np.ndarray] = {}
    if complex_stft is not None:
        harm, perc = librosa.decompose.hpss(complex_stft)
        samples["harmonic"] = librosa.istft(harm, hop_length=HOP, n_fft=N_FFT, length=len(y), dtype=y.dtype)
        samples["percussive"] = librosa.istft(perc, hop_length=HOP, n_fft=N_FFT, length=len(y), dtype=y.dtype)
    onset = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=HOP)
    return Signals(sr, len(y), frames, samples, onset, log_mel)


def frame_ranges(starts: np.ndarray, stops: np.ndarray, n_samples: int, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[first, last)`` whose centre (frame * HOP) lies in samples ``[start, stop)``.

    A range reaching the end of the recording keeps every remaining frame (with centred frames the
    last one sits at the final sample when the length is a multiple of HOP).
    """
    first = -(-np.asarray(starts, dtype=np.int64) // HOP)
    last = np.where(np.asarray(stops) >= n_samples, n_frames, -(-np.asarray(stops, dtype=np.int64) // HOP))
    return first, last


def segment_mean_var(data: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) variance of each row of ``data`` over columns ``[first[i], last[i])``.

    Returns two ``(rows, segments)`` float64 arrays. Segments may overlap; each must be non-empty.
    The segments' columns are gathered once and reduced with one call per statistic (two-pass variance).
    """
    counts = last - first
    if np.any(counts <= 0):
        raise ValueError("every segment needs at least one column")
    columns = np.concatenate([np.arange(a, b) for a, b in zip(first, last)])
    gathered = data[:, columns].astype(np.float64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mean = np.add.reduceat(gathered, offsets, axis=1) / counts
    deviation = gathered - np.repeat(mean, counts, axis=1)
    return mean, np.add.reduceat(deviation**2, offsets, axis=1) / counts


def _long_tempo(onset: np.ndarray, sr: int) -> float:
    """``librosa.feature.tempo`` of a long onset envelope, its tempogram averaged block by block.

    The tempogram's columns are independent windows of the (ramp-padded) envelope, so summing them
    a block at a time gives the same time average without the whole (window x frames) matrix.
    """
    win = int(librosa.time_to_frames(TEMPO_WINDOW_S, sr=sr, hop_length=HOP))
    padded = np.pad(onset, win // 2, mode="linear_ramp", end_values=[0, 0])
    total = np.zeros(win)
    for c0 in range(0, len(onset), BLOCK_FRAMES):
        c1 = min(c0 + BLOCK_FRAMES, len(onset))
        tg = librosa.feature.tempogram(onset_envelope=padded[c0:c1 + win - 1], sr=sr, hop_length=HOP,
                                       win_length=win, center=False)
        total += tg.sum(axis=1)
    return float(librosa.feature.tempo(tg=(total / len(onset))[:, None], sr=sr, hop_length=HOP)[0])


def _tempo(onset: np.ndarray, first: np.ndarray, last: np.ndarray, sr: int) -> np.ndarray:
    """librosa tempo of each onset-envelope segment; equal-length segments share calls (batches of 32)."""
    tempo = np.empty(len(first))
    lengths = last - first
    for length in np.unique(lengths):
        which = np.flatnonzero(lengths == length)
        if length > BLOCK_FRAMES:  # long recordings: bounded memory
            tempo[which] = [_long_tempo(onset[a:a + length], sr) for a in first[which]]
            continue
        for batch in np.array_split(which, -(-len(which) // TEMPO_BATCH)):
            envelopes = np.stack([onset[a:a + length] for a in first[batch]])
            tempo[batch] = librosa.feature.tempo(onset_envelope=envelopes, sr=sr, hop_length=HOP)[:, 0]
    return tempo


def aggregate(signals: Signals, schema: FeatureSchema, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Schema rows ``(len(starts), n_features)`` summarising samples ``[starts[i], stops[i])`` (float64)."""
    starts, stops = np.asarray(starts, dtype=np.int64), np.asarray(stops, dtype=np.int64)
    first, last = frame_ranges(starts, stops, signals.n_samples, signals.n_frames)
    per_row = [g for g in schema.groups if g.aggregate != "scalar" and g.signal not in SAMPLE_SIGNALS]
    blocks = [signals.frames[g.signal][: g.rows] for g in per_row]
    mean, var = segment_mean_var(np.vstack(blocks), first, last) if blocks else (np.empty((0, len(starts))),) * 2
    row_of = dict(zip([g.name for g in per_row], np.cumsum([0] + [len(b) for b in blocks])))
    columns: list[np.ndarray] = []
    for group in schema.groups:
        if group.aggregate == "scalar":  # tempo
            columns.append(_tempo(signals.onset, first, last, signals.sr)[None, :])
            continue
        if group.signal in SAMPLE_SIGNALS:
            m, v = segment_mean_var(signals.samples[group.signal][None, :], starts, stops)
        else:
            rows = slice(row_of[group.name], row_of[group.name] + group.rows)
            m, v = mean[rows], var[rows]
        if group.aggregate == "pooled":  # all rows and frames together (law of total variance)
            pooled = m.mean(axis=0)
            m, v = pooled[None, :], (v + (m - pooled) ** 2).mean(axis=0)[None, :]
        columns.append(np.stack([m, v], axis=1).reshape(-1, m.shape[1]))  # mean, var per row, interleaved
    return np.vstack(columns).T


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
    """Whole-track row and slice rows from already computed signals (one aggregation for all rows)."""
    length = int(round(slice_seconds * signals.sr))
    if length < HOP:
        raise ValueError(f"slices must be at least {HOP / signals.sr * 1000:.0f} ms long")
    starts = slice_starts(signals.n_samples, signals.sr, slice_seconds, hop_seconds, max_slices)
    stops = np.minimum(starts + length, signals.n_samples)
    rows = aggregate(signals, schema, np.concatenate([[0], starts]), np.concatenate([[signals.n_samples], stops]))
    return Extraction(schema, signals.sr, rows[0], rows[1:], starts, length, signals.n_samples)


def extract(y: np.ndarray, sr: int = SAMPLE_RATE, schema: FeatureSchema = SEED, *,
            slice_seconds: float = SLICE_SECONDS, hop_seconds: float | None = None,
            max_slices: int | None = None) -> Extraction:
    """Features of ``y``: one whole-track row and one row per slice, from a single STFT."""
    signals = compute_signals(y, sr, schema.signals)
    return extract_signals(signals, schema, slice_seconds=slice_seconds, hop_seconds=hop_seconds,
                           max_slices=max_slices)

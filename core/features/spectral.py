"""Faster, value-equal versions of the librosa feature functions that dominate extraction time.

Each function takes what :mod:`core.features.extract` already holds (one magnitude/power spectrogram, the
signal) and returns what the named librosa 0.11 call returns for the same input, computing only
what that result depends on:

- :func:`estimate_tuning` = ``librosa.estimate_tuning(S=power, sr=sr, bins_per_octave=12)``
  (what ``chroma_stft`` calls), bit-equal: the piptrack peaks (:func:`pitch_peaks`, also usable
  block by block) are searched only on the bins piptrack keeps (150 Hz to 4 kHz) and interpolated
  with librosa's own stencil.
- :func:`centroid_bandwidth` = ``spectral_centroid`` and ``spectral_bandwidth`` (``p=2``) from three
  float64 spectral moments (one matrix product); equal up to librosa's float32 normalisation
  (relative 1e-6).
- :func:`rolloff` = ``spectral_rolloff``, bit-equal (float32 cumulative sum as librosa, first bin
  reaching the threshold).
- :func:`zero_crossing_rate` = ``zero_crossing_rate`` (centred, edge-padded frames), bit-equal: one
  crossing array over the signal (block by block), counted per frame with a cumulative sum.

``tests/test_features.py`` checks each against librosa.
"""

from __future__ import annotations

import librosa
import numpy as np
from librosa.core.pitch import _pi_wrapper  # piptrack's parabolic-interpolation kernel

PIPTRACK_FMIN = 150.0  # piptrack's defaults, as chroma_stft's tuning estimate uses them
PIPTRACK_FMAX = 4000.0
PIPTRACK_THRESHOLD = 0.1
ZC_THRESHOLD = 1e-10  # librosa casts it to the signal's dtype


def pitch_peaks(power: np.ndarray, sr: float, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """The (frequency, magnitude) pairs ``librosa.piptrack(S=power)`` reports, frame by frame.

    Frames are independent, so the peaks of consecutive blocks of frames concatenate to the peaks of
    the whole spectrogram (order aside, which the tuning estimate ignores).
    """
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    band = np.flatnonzero((PIPTRACK_FMIN <= freqs) & (freqs < min(PIPTRACK_FMAX, sr / 2)))
    if band.size == 0:
        return np.zeros(0, power.dtype), np.zeros(0, power.dtype)
    # The band never touches bin 0 (fmin > 0) nor the Nyquist bin (freq < sr/2), so one neighbour
    # on each side exists: S rows are bins band[0]-1 .. band[-1]+1.
    lo, hi = int(band[0]), int(band[-1]) + 1
    S = power[lo - 1: hi + 1]
    ref = PIPTRACK_THRESHOLD * power.max(axis=0)  # per-frame max over *all* bins, float32 like librosa
    Z = S * (S > ref)
    peak = (Z[1:-1] > Z[:-2]) & (Z[1:-1] >= Z[2:])  # librosa.util.localmax on interior bins
    k, t = np.nonzero(peak)
    neighbours = np.stack([S[k, t], S[k + 1, t], S[k + 2, t]], axis=1)
    shift = np.empty_like(neighbours)
    _pi_wrapper(neighbours, shift)
    shift = shift[:, 1]
    avg = (neighbours[:, 2] - neighbours[:, 0]) / 2.0  # np.gradient, interior
    mags = neighbours[:, 1] + 0.5 * avg * shift
    pitches = ((k + lo + shift) * float(sr) / n_fft).astype(power.dtype)
    return pitches, mags


def tuning_of_peaks(pitches: np.ndarray, mags: np.ndarray, bins_per_octave: int = 12) -> float:
    """``librosa.estimate_tuning``'s result from the piptrack peaks (median-magnitude threshold)."""
    if pitches.size == 0:
        return 0.0  # librosa warns and returns 0.0 for an empty set
    return float(librosa.pitch_tuning(pitches[mags >= np.median(mags)], bins_per_octave=bins_per_octave))


def estimate_tuning(power: np.ndarray, sr: float, n_fft: int, bins_per_octave: int = 12) -> float:
    """Tuning offset (fraction of a chroma bin) exactly as ``chroma_stft`` estimates it from ``power``."""
    return tuning_of_peaks(*pitch_peaks(power, sr, n_fft), bins_per_octave=bins_per_octave)


def centroid_bandwidth(mag: np.ndarray, sr: float, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Spectral centroid and bandwidth (each ``(1, frames)``, float64) from float64 moments of ``mag``."""
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    m0, m1, m2 = np.vstack([np.ones_like(freqs), freqs, freqs**2]) @ mag.astype(np.float64)
    # librosa normalises each frame by its sum, except frames whose sum is below float tiny.
    norm = np.where(m0 < np.finfo(mag.dtype).tiny, 1.0, m0)
    centroid = m1 / norm
    spread = (m2 - 2 * centroid * m1 + centroid**2 * m0) / norm  # sum_f S(f) (f - c)^2 / norm
    return centroid[None, :], np.sqrt(np.maximum(spread, 0.0))[None, :]


def rolloff(mag: np.ndarray, sr: float, n_fft: int, roll_percent: float = 0.85) -> np.ndarray:
    """Spectral roll-off ``(1, frames)``: lowest bin frequency holding ``roll_percent`` of the energy."""
    total = np.cumsum(mag, axis=0)
    first = np.argmax(total >= roll_percent * total[-1], axis=0)
    return librosa.fft_frequencies(sr=sr, n_fft=n_fft)[first][None, :]


def zero_crossing_rate(y: np.ndarray, frame_length: int, hop_length: int, block_frames: int = 4096) -> np.ndarray:
    """Zero-crossing rate ``(1, frames)`` of centred frames, as librosa (edge padding, zeros count positive).

    Crossings are counted with a cumulative sum over the samples of ``block_frames`` frames at a time.
    """
    n_frames = 1 + len(y) // hop_length
    rate = np.empty(n_frames)
    threshold = y.dtype.type(ZC_THRESHOLD)
    for f0 in range(0, n_frames, block_frames):
        # Frame t covers padded samples [t*hop, t*hop + frame_length), i.e. original samples from
        # t*hop - frame_length//2; edge padding adds no crossing, so pair indices clip to the signal.
        first = np.arange(f0, min(f0 + block_frames, n_frames)) * hop_length - frame_length // 2
        lo, hi = max(0, first[0]), min(len(y), first[-1] + frame_length)
        negative = y[lo:hi] < -threshold  # signbit after librosa zeroes |y| <= threshold
        crossings = np.concatenate([np.zeros(1, np.int32), np.cumsum(negative[1:] != negative[:-1], dtype=np.int32)])
        last = hi - lo - 1
        count = crossings[np.clip(first + frame_length - 1 - lo, 0, last)] - crossings[np.clip(first - lo, 0, last)]
        rate[f0:f0 + len(first)] = count / frame_length
    return rate[None, :]

"""Make old, quiet, lossless GTZAN clips sound like today's uploads: seeded audio augmentations.

Each augmentation maps mono float32 audio ``y`` at rate ``sr`` and a :class:`numpy.random.Generator`
to new audio of the same length and rate, and draws its own settings from the generator, so a
(track, variant, seed) triple always gives the same audio. :func:`augment` applies a chain of them.

What they cover (what real uploads differ in):

- ``loudness``: level from -24 to -8 dBFS RMS (modern masters are about 10 dB louder than GTZAN's);
- ``compression``: a feed-forward RMS compressor (threshold, ratio 2-8) and a soft limiter, the
  dynamic-range compression of modern mastering;
- ``eq``: a spectral tilt of -6..+6 dB across the band, a high-pass at 20-150 Hz and a low-pass at
  4-11 kHz (phone speakers, old transfers, bright masters);
- ``codec``: an MP3 round trip at 64-320 kb/s through libsndfile (no ffmpeg needed);
- ``downmix``: a stereo-to-mono fold of a widened mix, modelled as a short comb filter (0.1-1.5 ms);
- ``noise``: pink noise at 15-40 dB SNR; ``room``: a synthetic exponentially decaying room response
  (RT60 0.2-0.9 s) mixed in at 10-40%; ``quiet``: a level from -55 to -20 dBFS RMS.

Random crops are not an audio transform here: callers cut patches at random offsets
(:func:`crop_offset`).
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
import soundfile as sf
from scipy import signal

Augmentation = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
FULL_SCALE_PEAK = 0.999


def _rms_db(y: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(y, dtype=np.float64)) + 1e-12))


def _soft_limit(y: np.ndarray) -> np.ndarray:
    """tanh limiter: transparent below about -6 dBFS, never above full scale."""
    return (np.tanh(y / FULL_SCALE_PEAK) * FULL_SCALE_PEAK).astype(np.float32)


def loudness(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Scale to an RMS level drawn from -24..-8 dBFS; peaks are soft-limited."""
    gain_db = rng.uniform(-24.0, -8.0) - _rms_db(y)
    return _soft_limit(y * np.float32(10 ** (gain_db / 20)))


def compression(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Feed-forward RMS compressor (10-ms attack/release envelope), make-up gain, soft limiter."""
    threshold_db = _rms_db(y) + rng.uniform(-12.0, 0.0)
    ratio = rng.uniform(2.0, 8.0)
    alpha = np.exp(-1.0 / (0.010 * sr))
    envelope = signal.lfilter([1 - alpha], [1, -alpha], np.square(y, dtype=np.float64))
    level_db = 10 * np.log10(envelope + 1e-12)
    reduction_db = np.minimum(0.0, (threshold_db - level_db) * (1 - 1 / ratio))
    out = y * (10 ** (reduction_db / 20)).astype(np.float32)
    makeup_db = _rms_db(y) - _rms_db(out) + rng.uniform(0.0, 6.0)
    return _soft_limit(out * np.float32(10 ** (makeup_db / 20)))


def eq(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Tilt (first-order shelf at 1 kHz, -6..+6 dB) plus a high-pass and a low-pass (4th order)."""
    nyquist = sr / 2
    tilt_db = rng.uniform(-6.0, 6.0)
    low, high = rng.uniform(20.0, 150.0), min(rng.uniform(4_000.0, 11_000.0), 0.95 * nyquist)
    sos = signal.butter(4, [low / nyquist, high / nyquist], btype="bandpass", output="sos")
    out = signal.sosfilt(sos, y)
    shelf = signal.butter(1, 1_000.0 / nyquist, btype="highpass", output="sos")
    out = out + (10 ** (tilt_db / 20) - 1) * signal.sosfilt(shelf, out)
    return _soft_limit(out.astype(np.float32))


MP3_LEVELS = (0.0, 0.25, 0.5, 0.75, 0.85)  # libsndfile CBR compression levels: about 320, 256, 160, 96, 64 kb/s
MP3_RATES = (8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)


def codec(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """MP3 round trip (constant bit rate, 64-320 kb/s) through libsndfile; same length and rate back."""
    if sr not in MP3_RATES:
        raise ValueError(f"MP3 cannot carry {sr} Hz audio; resample first (rates: {MP3_RATES}).")
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(y, -1.0, 1.0), sr, format="MP3", subtype="MPEG_LAYER_III",
             compression_level=float(rng.choice(MP3_LEVELS)), bitrate_mode="CONSTANT")
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    decoded = decoded if decoded.ndim == 1 else decoded.mean(axis=1)
    out = np.zeros_like(y)  # the encoder's delay and padding change the length slightly
    out[: min(len(y), len(decoded))] = decoded[: len(y)]
    return out


def downmix(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of a widened stereo mix to mono: ``(y + g * y delayed by 0.1-1.5 ms) / (1 + g)``."""
    delay = max(1, int(round(rng.uniform(0.0001, 0.0015) * sr)))
    g = np.float32(rng.uniform(0.3, 0.9) * rng.choice([-1.0, 1.0]))
    out = y.copy()
    out[delay:] += g * y[:-delay]
    return (out / (1 + abs(g))).astype(np.float32)


def _pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    spectrum /= np.sqrt(np.maximum(np.arange(n // 2 + 1), 1))
    noise = np.fft.irfft(spectrum, n)
    return (noise / (np.std(noise) + 1e-12)).astype(np.float32)


def noise(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise at an SNR drawn from 15-40 dB."""
    snr_db = rng.uniform(15.0, 40.0)
    level = np.float32(10 ** ((_rms_db(y) - snr_db) / 20))
    return _soft_limit(y + level * _pink_noise(len(y), rng))


def room(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Convolution with decaying noise (RT60 0.2-0.9 s), mixed in at 10-40%, level kept."""
    rt60 = rng.uniform(0.2, 0.9)
    t = np.arange(int(rt60 * sr)) / sr
    impulse = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    impulse /= np.sqrt(np.sum(impulse**2)) + 1e-12
    wet = signal.fftconvolve(y, impulse)[: len(y)].astype(np.float32)
    mix = rng.uniform(0.1, 0.4)
    out = (1 - mix) * y + mix * wet
    return _soft_limit(out * np.float32(10 ** ((_rms_db(y) - _rms_db(out)) / 20)))


def quiet(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Level from -55 to -20 dBFS RMS: a song played softly, or recorded from across a room."""
    return (y * np.float32(10 ** ((rng.uniform(-55.0, -20.0) - _rms_db(y)) / 20))).astype(np.float32)


AUGMENTATIONS: dict[str, Augmentation] = {
    "loudness": loudness, "compression": compression, "eq": eq, "codec": codec,
    "downmix": downmix, "noise": noise, "room": room, "quiet": quiet,
}
# The chain the shipped models train with: one draw of each, in the order a song travels (mix, master, encode).
MODERN_CHAIN: tuple[str, ...] = ("downmix", "eq", "compression", "loudness", "codec")
# A song heard through a laptop's microphone (the page's Record button): the music detector's music includes it.
RECORDED_CHAIN: tuple[str, ...] = ("room", "noise", "eq", "quiet")


def augment(y: np.ndarray, sr: int, kinds: tuple[str, ...] | list[str], rng: np.random.Generator) -> np.ndarray:
    """Apply the augmentations ``kinds`` in order; same length, rate and dtype (float32) as ``y``.

    >>> import numpy as np
    >>> y = np.sin(np.linspace(0, 2000, 22_050)).astype(np.float32) * 0.1
    >>> augment(y, 22_050, ["loudness", "eq"], np.random.default_rng(0)).shape
    (22050,)
    """
    unknown = [k for k in kinds if k not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"Unknown augmentation {', '.join(unknown)}; known: {', '.join(AUGMENTATIONS)}.")
    out = np.asarray(y, dtype=np.float32)
    for kind in kinds:
        out = AUGMENTATIONS[kind](out, sr, rng)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def crop_offset(rng: np.random.Generator, hop_s: float) -> float:
    """A random start offset in ``[0, hop_s)`` for a grid of patches (random crops)."""
    return float(rng.uniform(0.0, hop_s))

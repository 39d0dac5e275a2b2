"""Log-mel spectrogram patches for the CNN: uint8 cache in Parquet, patches at given times, tf.data.

The spectrogram is :func:`core.features.extract.compute_signals`' ``log_mel`` (128 mel bands, dB, hop 512 at
22,050 Hz), so the CNN sees the same decoded audio and the same transform as the features. A track's
spectrogram is cached once as uint8 codes (0.5 dB steps from -100 dB: a quarter of float32's size, the
step far below what the network resolves) in a Parquet table with one row per track.
:func:`patch_dataset` streams random 3-s crops with audio augmentation (gain, SpecAugment masks);
:func:`patches_at` cuts the fixed windows used to evaluate and classify.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data.store import FeatureTableError, write_parquet_atomic
from core.features.extract import HOP

N_MELS = 128
PATCH_FRAMES = 128  # 2.97 s at hop 512 / 22,050 Hz: the CNN's input is (N_MELS, PATCH_FRAMES)
DB_FLOOR = -100.0  # dB of code 0
DB_STEP = 0.5  # dB per code: codes 0..255 cover -100 .. +27.5 dB
COLUMNS = ("track_id", "path", "label", "n_mels", "n_frames", "db_floor", "db_step", "codes")


def quantise(log_mel: np.ndarray) -> np.ndarray:
    """dB values -> uint8 codes (rounded to DB_STEP, clipped to the code range)."""
    codes = np.rint((np.asarray(log_mel, dtype=np.float32) - DB_FLOOR) / DB_STEP)
    return np.clip(codes, 0, 255).astype(np.uint8)


def dequantise(codes: np.ndarray) -> np.ndarray:
    """uint8 codes -> dB values (float32)."""
    return DB_FLOOR + DB_STEP * np.asarray(codes, dtype=np.float32)


def frames_of(start_samples: np.ndarray) -> np.ndarray:
    """The spectrogram frame (hop 512) at which windows starting at these samples begin."""
    return np.rint(np.asarray(start_samples, dtype=np.float64) / HOP).astype(np.int64)


def patches_at(log_mel: np.ndarray, first_frames: np.ndarray, frames: int = PATCH_FRAMES) -> np.ndarray:
    """Windows ``(n, n_mels, frames)`` of a ``(n_mels, n_frames)`` spectrogram starting at ``first_frames``.

    A spectrogram shorter than a window is repeated to fill it; windows running past the end are
    shifted back to end at the last frame.
    """
    spec = np.asarray(log_mel, dtype=np.float32)
    if spec.shape[1] < frames:
        spec = np.concatenate([spec] * int(np.ceil(frames / spec.shape[1])), axis=1)
    first = np.clip(np.asarray(first_frames, dtype=np.int64), 0, spec.shape[1] - frames)
    return np.stack([spec[:, f : f + frames] for f in first])


@dataclass
class SpectrogramSet:
    """Cached spectrograms of a dataset: per track its id, label and uint8 codes (n_mels, n_frames)."""

    track_ids: list[str]
    labels: list[str]
    codes: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.track_ids)

    def subset(self, index: np.ndarray) -> "SpectrogramSet":
        return SpectrogramSet([self.track_ids[i] for i in index], [self.labels[i] for i in index],
                              [self.codes[i] for i in index])


def spectrogram_row(track_id: str, path: str, label: str, log_mel: np.ndarray) -> dict:
    """One cache row for a track's ``log_mel`` (dB, ``(n_mels, n_frames)``)."""
    codes = quantise(log_mel)
    return {"track_id": track_id, "path": path, "label": label, "n_mels": codes.shape[0],
            "n_frames": codes.shape[1], "db_floor": DB_FLOOR, "db_step": DB_STEP, "codes": codes.tobytes()}


def write_spectrograms(rows: list[dict], path: str | os.PathLike) -> None:
    """Write cache rows (from :func:`spectrogram_row`) as one zstd Parquet file, atomically."""
    write_parquet_atomic(pd.DataFrame(rows, columns=list(COLUMNS)), path)


def read_spectrograms(path: str | os.PathLike) -> SpectrogramSet:
    """Read a spectrogram cache; :class:`core.data.store.FeatureTableError` for a file that is not one."""
    frame = pd.read_parquet(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise FeatureTableError(f"{path} is not a spectrogram cache (missing columns: {', '.join(missing)}).")
    if not ((frame["db_floor"] == DB_FLOOR) & (frame["db_step"] == DB_STEP)).all():
        raise FeatureTableError(f"{path} was quantised with another scale; rebuild the cache.")
    codes = [np.frombuffer(b, dtype=np.uint8).reshape(m, n)
             for b, m, n in zip(frame["codes"], frame["n_mels"], frame["n_frames"])]
    return SpectrogramSet(frame["track_id"].astype(str).tolist(), frame["label"].astype(str).tolist(), codes)


def evaluation_patches(codes: np.ndarray, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Fixed windows (back to back by default) over a cached track, in dB: ``(n, N_MELS, PATCH_FRAMES)``."""
    n_frames = codes.shape[1]
    first = np.arange(0, max(1, n_frames - PATCH_FRAMES + 1), hop_frames)
    return patches_at(dequantise(codes), first)


def patch_dataset(spectrograms: SpectrogramSet, y: np.ndarray, *, batch_size: int = 32, crops_per_track: int = 4,
                  augment: bool = True, gain_db: float = 6.0, freq_mask: int = 16, time_mask: int = 16,
                  weights: np.ndarray | None = None, seed: int = 0):
    """A shuffled ``tf.data`` pipeline of random 3-s crops: batches of (patch dB, label[, weight]).

    Every epoch draws ``crops_per_track`` random crops from each track. With ``augment``, each crop
    gets a random gain (uniform within +-``gain_db``), one frequency mask of up to ``freq_mask``
    bands and one time mask of up to ``time_mask`` frames (SpecAugment), both set to the crop's mean.
    """
    from core.keras_env import tf

    tracks = [c if c.shape[1] >= PATCH_FRAMES else np.tile(c, (1, -(-PATCH_FRAMES // c.shape[1])))
              for c in spectrograms.codes]  # a track shorter than a crop is repeated
    lengths = np.array([c.shape[1] for c in tracks], dtype=np.int32)
    padded = np.zeros((len(tracks), N_MELS, int(lengths.max())), dtype=np.uint8)
    for i, c in enumerate(tracks):
        padded[i, :, : c.shape[1]] = c
    columns: tuple[np.ndarray, ...] = (padded, lengths, np.asarray(y, dtype=np.int64))
    if weights is not None:
        columns += (np.asarray(weights, dtype=np.float32),)
    rng = tf.random.Generator.from_seed(seed)

    def crop(codes, length, label, *weight):
        start = rng.uniform((), 0, length - PATCH_FRAMES + 1, dtype=tf.int32)
        patch = DB_FLOOR + DB_STEP * tf.cast(codes[:, start : start + PATCH_FRAMES], tf.float32)
        if augment:
            patch = patch + rng.uniform((), -gain_db, gain_db)
            fill = tf.reduce_mean(patch)
            patch = _mask(patch, rng, freq_mask, axis=0, fill=fill)
            patch = _mask(patch, rng, time_mask, axis=1, fill=fill)
        patch = tf.ensure_shape(patch, (N_MELS, PATCH_FRAMES))
        return (patch, label, *weight)

    ds = tf.data.Dataset.from_tensor_slices(columns).repeat(crops_per_track)
    ds = ds.shuffle(len(lengths) * crops_per_track, seed=seed, reshuffle_each_iteration=True)
    return ds.map(crop).batch(batch_size)


def _mask(patch, rng, max_width: int, axis: int, fill):
    """Set a random band of up to ``max_width`` rows (axis 0) or columns (axis 1) to ``fill``."""
    from core.keras_env import tf

    if max_width <= 0:
        return patch
    size = tf.shape(patch)[axis]
    width = rng.uniform((), 0, max_width + 1, dtype=tf.int32)
    start = rng.uniform((), 0, size - width + 1, dtype=tf.int32)
    index = tf.range(size)
    keep = (index < start) | (index >= start + width)
    keep = keep[:, None] if axis == 0 else keep[None, :]
    return tf.where(keep, patch, fill)

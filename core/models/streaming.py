"""Out-of-core training: stream a Parquet feature table into ``tf.data`` with flat memory.

A table larger than memory (a store directory's parts, one Parquet file, or a folder of Parquet
files; local or a URL such as ``s3://bucket/store``, :mod:`core.storage`) is read as Arrow record
batches (:mod:`pyarrow.dataset`), never as a whole. :func:`scan` makes one pass for the row and
class counts and the exact per-feature mean and variance (merged batch by batch), which set the
model's Normalization layer; :func:`stream` then yields shuffled batches each epoch: files in a new
order, rows mixed in a buffer of ``shuffle_rows``. Memory is bounded by that buffer and a few record
batches, whatever the table's size. Validation tracks are chosen by a hash of the track id, so every
slice of a track falls on the same side without a table in memory.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from core import storage
from core.data.store import FeatureTableError, table_files
from core.data.training_data import LEVELS, Level
from core.features.schema import WHOLE_TRACK, FeatureSchema, genre_order, get_schema
from core.keras_env import keras, seed_everything, tf
from core.models.builders import build_model
from core.models.train import EpochListener, StopFlag, TrainConfig, TrainHistory, class_weights, fit
from core.storage import Location

RECORD_BATCH_ROWS = 16_384
SHUFFLE_ROWS = 65_536  # rows mixed at a time: the memory bound (~23 MB for 87 float32 features)
HASH_BUCKETS = 10_000


@dataclass(frozen=True)
class StreamStats:
    """What one pass over the training rows found (validation rows counted apart)."""

    schema: FeatureSchema
    level: Level
    classes: tuple[str, ...]
    rows: int
    validation_rows: int
    validation_fraction: float  # share of tracks (by hash of the track id) held out
    class_counts: np.ndarray  # training rows per class
    mean: np.ndarray  # per feature, float64
    variance: np.ndarray  # per feature (population), float64


def _dataset(file: Location) -> ds.Dataset:
    """One Parquet file as a pyarrow dataset (read through fsspec when it is a URL)."""
    if not storage.is_url(file):
        return ds.dataset(file, format="parquet")
    fs, inner = storage.filesystem(file)
    return ds.dataset(inner, format="parquet", filesystem=fs)


def table_schema(files: list[Location]) -> FeatureSchema:
    """The feature schema named by the first row's ``schema_version`` (and present in every file)."""
    first = _dataset(files[0]).head(1, columns=["schema_version"]).column(0).to_pylist()
    if not first:
        raise FeatureTableError(f"{files[0]} has no rows.")
    schema = get_schema(first[0])
    for file in files:
        missing = sorted(set(schema.columns) - set(_dataset(file).schema.names))
        if missing:
            raise FeatureTableError(f"{file} lacks columns of schema {schema.id}: {', '.join(missing[:5])}.")
    return schema


def in_validation(track_ids: pa.Array, fraction: float) -> np.ndarray:
    """True for rows whose track falls in the validation share (a stable hash of the track id)."""
    if fraction <= 0:
        return np.zeros(len(track_ids), dtype=bool)
    encoded = pc.dictionary_encode(track_ids)
    buckets = np.array([zlib.crc32(t.encode()) % HASH_BUCKETS for t in encoded.dictionary.to_pylist()], dtype=np.int64)
    return buckets[encoded.indices.to_numpy()] < fraction * HASH_BUCKETS


def _batches(files: Iterable[Location], schema: FeatureSchema, level: Level) -> Iterator[pa.RecordBatch]:
    if level not in LEVELS:
        raise ValueError(f"Unknown level {level!r}; use one of {', '.join(LEVELS)}.")
    wanted = pc.field("slice") == WHOLE_TRACK if level == "track" else pc.field("slice") >= 0
    for file in files:
        yield from _dataset(file).to_batches(
            columns=["track_id", "label", *schema.columns], filter=wanted, batch_size=RECORD_BATCH_ROWS,
            batch_readahead=1, fragment_readahead=1)


def _arrays(batch: pa.RecordBatch, schema: FeatureSchema, classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    x = np.column_stack([batch.column(c).to_numpy(zero_copy_only=False) for c in schema.columns]).astype(np.float32)
    y = pc.index_in(batch.column("label"), value_set=pa.array(classes, pa.string()))
    if y.null_count:
        unknown = sorted(set(pc.filter(batch.column("label"), pc.is_null(y)).to_pylist()))
        raise FeatureTableError(f"Labels not known to the model: {', '.join(map(str, unknown))} "
                                f"(known: {', '.join(classes)}).")
    return x, y.to_numpy().astype(np.int64)


def scan(source: str | Path, level: Level = "slice", validation_fraction: float = 0.2) -> StreamStats:
    """One streaming pass: classes, row counts and the training rows' per-feature mean and variance."""
    files = table_files(source)
    schema = table_schema(files)
    labels: dict[str, int] = {}
    n, mean, m2, n_val = 0, np.zeros(len(schema.columns)), np.zeros(len(schema.columns)), 0
    for batch in _batches(files, schema, level):
        val = in_validation(batch.column("track_id"), validation_fraction)
        n_val += int(val.sum())
        batch = batch.filter(pa.array(~val))
        if not batch.num_rows:
            continue
        for label, count in zip(*np.unique(batch.column("label").to_numpy(zero_copy_only=False), return_counts=True)):
            labels[str(label)] = labels.get(str(label), 0) + int(count)
        x = np.column_stack([batch.column(c).to_numpy(zero_copy_only=False) for c in schema.columns]).astype(np.float64)
        k, batch_mean = len(x), x.mean(axis=0)
        delta = batch_mean - mean  # Chan et al.'s merge of two (count, mean, M2) summaries
        mean = mean + delta * k / (n + k)
        m2 = m2 + ((x - batch_mean) ** 2).sum(axis=0) + delta**2 * n * k / (n + k)
        n += k
    if not n:
        raise FeatureTableError(f"{source}: no {level} rows to train on.")
    classes = genre_order(labels)
    counts = np.array([labels[c] for c in classes], dtype=np.int64)
    return StreamStats(schema, level, classes, n, n_val, validation_fraction, counts, mean, m2 / n)


def stream(source: str | Path, stats: StreamStats, *, batch_size: int = 128, validation: bool = False,
           weights: dict[int, float] | None = None,
           shuffle_rows: int = SHUFFLE_ROWS, seed: int = 42) -> tf.data.Dataset:
    """Batches of (x, y[, weight]) streamed from ``source``: the training rows, or with ``validation``
    the validation tracks' rows (not shuffled), split as in :func:`scan`. Training rows are reshuffled
    every epoch."""
    files = table_files(source)
    epochs = itertools.count()
    weight_of = None if weights is None else np.array([weights.get(i, 0.0) for i in range(len(stats.classes))],
                                                      dtype=np.float32)

    def generate() -> Iterator[tuple[np.ndarray, ...]]:
        rng = np.random.default_rng([seed, next(epochs)])
        order = [files[i] for i in rng.permutation(len(files))] if not validation else files
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        held = 0
        for batch in _batches(order, stats.schema, stats.level):
            keep = in_validation(batch.column("track_id"), stats.validation_fraction) == validation
            if not keep.any():
                continue
            x, y = _arrays(batch.filter(pa.array(keep)), stats.schema, stats.classes)
            xs.append(x)
            ys.append(y)
            held += len(y)
            if held >= shuffle_rows:
                x, y = np.concatenate(xs), np.concatenate(ys)
                whole = len(y) - len(y) % batch_size
                mix = rng.permutation(len(y)) if not validation else np.arange(len(y))
                yield from _cut(x[mix[:whole]], y[mix[:whole]], batch_size, weight_of)
                xs, ys, held = [x[mix[whole:]]], [y[mix[whole:]]], len(y) - whole
        if held:
            x, y = np.concatenate(xs), np.concatenate(ys)
            mix = rng.permutation(len(y)) if not validation else np.arange(len(y))
            yield from _cut(x[mix], y[mix], batch_size, weight_of)

    n_features = len(stats.schema.columns)
    signature: tuple[tf.TensorSpec, ...] = (tf.TensorSpec((None, n_features), tf.float32),
                                            tf.TensorSpec((None,), tf.int64))
    if weight_of is not None:
        signature += (tf.TensorSpec((None,), tf.float32),)
    batches = -(-(stats.validation_rows if validation else stats.rows) // batch_size)  # remainders come last
    data = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return data.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(2)


def _cut(x: np.ndarray, y: np.ndarray, batch_size: int,
         weight_of: np.ndarray | None) -> Iterator[tuple[np.ndarray, ...]]:
    for i in range(0, len(y), batch_size):
        part = (x[i:i + batch_size], y[i:i + batch_size])
        yield part if weight_of is None else (*part, weight_of[part[1]])


def train_streaming(config: TrainConfig, source: str | Path, listeners: Iterable[EpochListener] = (),
                    stop: StopFlag | None = None, *, shuffle_rows: int = SHUFFLE_ROWS
                    ) -> tuple[keras.Model, TrainHistory, StreamStats]:
    """Fit ``config.architecture`` (a feature-row model with a ``scale`` Normalization layer) on a
    feature table read from disk batch by batch; the scaler gets the exact mean and variance of the
    training rows from :func:`scan`. Validation: ``config.validation_fraction`` of the tracks (hashed)."""
    seed_everything(config.seed)
    stats = scan(source, config.level, config.validation_fraction)
    sample = np.tile(stats.mean.astype(np.float32), (2, 1))  # builds the layers; the scaler is set below
    model = build_model(config.architecture, sample, len(stats.classes), **config.model_config)
    try:
        scale = model.get_layer("scale")
    except ValueError:
        raise ValueError(f"{config.architecture} has no feature Normalization layer ('scale') to stream into.") from None
    scale.adapt_mean.assign(stats.mean.astype(np.float32))
    scale.adapt_variance.assign(stats.variance.astype(np.float32))
    scale.finalize_state()
    weights = None
    if config.balance_classes:  # the counted labels, as a label array
        weights = class_weights(np.repeat(np.arange(len(stats.class_counts)), stats.class_counts))
    train_data = stream(source, stats, batch_size=config.batch_size, weights=weights, shuffle_rows=shuffle_rows,
                        seed=config.seed)
    validation = None
    if stats.validation_rows:
        validation = stream(source, stats, batch_size=4096, validation=True)
    history = fit(model, train_data, config.epochs, validation=validation, listeners=listeners, stop=stop,
                  monitor=config.monitor, patience=config.patience)
    return model, history, stats

"""Out-of-core training: exact streamed statistics, every training row once per epoch, reshuffled,
validation tracks kept whole and apart, a model trained from Parquet parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core.data.explore import synthetic_table
from core.data.store import FeatureTableError, open_store, write_part
from core.features.schema import SEED
from core.models.streaming import in_validation, scan, stream, train_streaming
from core.models.train import TrainConfig

FRACTION = 0.25


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_table(SEED, n_tracks=60, slices=5, seed=3)


@pytest.fixture(scope="module")
def store(table, tmp_path_factory):
    """The table as a store directory of 4 parts (whole tracks in each part)."""
    root = open_store(tmp_path_factory.mktemp("stream") / "store", SEED, 5)
    per_part = len(table) // 4
    for i in range(4):
        write_part(root, table.iloc[i * per_part:(i + 1) * per_part].reset_index(drop=True))
    return root


def split(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    slices = table[table["slice"] >= 0]
    val = in_validation(pa.array(slices["track_id"]), FRACTION)
    return slices[~val], slices[val]


def test_scan_gives_exact_statistics_of_the_training_rows(store, table):
    train_rows, val_rows = split(table)
    assert 0 < len(val_rows) < len(train_rows)
    stats = scan(store, "slice", FRACTION)
    x = train_rows[list(SEED.columns)].to_numpy()
    assert (stats.rows, stats.validation_rows) == (len(train_rows), len(val_rows))
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(stats.variance, x.var(axis=0), rtol=1e-8)
    assert stats.classes == ("blues", "classical", "jazz", "metal", "rock")
    assert list(stats.class_counts) == list(train_rows["label"].value_counts()[list(stats.classes)])
    track_stats = scan(store, "track", 0.0)
    assert track_stats.rows == 60 and track_stats.validation_rows == 0


def test_stream_yields_each_training_row_once_per_epoch_reshuffled(store, table):
    train_rows, val_rows = split(table)
    stats = scan(store, "slice", FRACTION)
    data = stream(store, stats, batch_size=32, shuffle_rows=100, seed=1)
    epochs = []
    for _ in range(2):
        batches = [(x.numpy(), y.numpy()) for x, y in data]
        assert max(len(y) for _, y in batches) == 32 and len(batches) == len(data)
        epochs.append((np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])))
    expected = np.sort(train_rows[list(SEED.columns)].to_numpy(np.float32)[:, 0])
    for x, y in epochs:
        np.testing.assert_array_equal(np.sort(x[:, 0]), expected)
        assert np.bincount(y).tolist() == stats.class_counts.tolist()
    assert not np.array_equal(epochs[0][0], epochs[1][0])  # another order each epoch
    val = stream(store, stats, batch_size=1000, validation=True)
    x_val = np.concatenate([x.numpy() for x, _ in val])
    np.testing.assert_array_equal(np.sort(x_val[:, 0]),
                                  np.sort(val_rows[list(SEED.columns)].to_numpy(np.float32)[:, 0]))
    assert not set(train_rows["track_id"]) & set(val_rows["track_id"])


def test_weights_follow_the_classes(store):
    stats = scan(store, "slice", FRACTION)
    weights = {i: float(i + 1) for i in range(len(stats.classes))}
    x, y, w = next(iter(stream(store, stats, batch_size=64, weights=weights)))
    np.testing.assert_array_equal(w.numpy(), y.numpy() + 1.0)


def test_train_streaming_learns_and_sets_the_scaler(store):
    config = TrainConfig(epochs=4, batch_size=64, seed=0)
    model, history, stats = train_streaming(config, store, shuffle_rows=200)
    scale = model.get_layer("scale")
    np.testing.assert_allclose(np.asarray(scale.adapt_mean), stats.mean.astype(np.float32), rtol=1e-6)
    assert len(history.epochs) == 4 and history.best_epoch >= 1
    assert history.epochs[-1].val_accuracy > 0.8  # five well-separated synthetic genres (chance: 0.2)


def test_missing_table_is_a_clear_error(tmp_path):
    with pytest.raises(FeatureTableError, match="no Parquet feature files"):
        scan(tmp_path)

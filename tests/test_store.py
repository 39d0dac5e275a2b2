"""The feature store: reading Parquet files, store directories and the published GTZAN CSVs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.store import (
    FeatureTableError,
    compact,
    done_keys,
    feature_schema_of,
    open_store,
    read_errors,
    read_features,
    read_gtzan_csv,
    write_errors,
    write_parquet_atomic,
    write_part,
)
from core.features.schema import GTZAN_KAGGLE, IDENTITY_COLUMNS, SEED, WHOLE_TRACK


def seed_table(track_ids: list[str], slices: int = 2, label: str = "rock") -> pd.DataFrame:
    """A small valid seed-schema table: a whole-track row and ``slices`` slice rows per track."""
    rows = []
    rng = np.random.default_rng(0)
    for track_id in track_ids:
        for s in [WHOLE_TRACK, *range(slices)]:
            rows.append({"track_id": track_id, "path": f"/x/{track_id}.wav", "label": label, "slice": s,
                         "start_s": max(s, 0) * 3.0, "duration_s": 30.0 if s < 0 else 3.0,
                         "schema_version": SEED.id,
                         **dict(zip(SEED.columns, rng.normal(size=len(SEED.columns))))})
    return pd.DataFrame(rows)


def kaggle_csv(tmp_path, filenames: list[str], label: str = "blues", **overrides) -> pd.DataFrame:
    raw = pd.DataFrame({"filename": filenames, "length": 66149})
    for i, col in enumerate(GTZAN_KAGGLE.columns):
        raw[col] = float(i)
    raw["label"] = label
    for col, value in overrides.items():
        raw[col] = value
    raw.to_csv(tmp_path / "features.csv", index=False)
    return raw


def test_parquet_round_trip_keeps_layout_and_values(tmp_path):
    table = seed_table(["a", "b"])
    write_parquet_atomic(table, tmp_path / "f.parquet")
    back = read_features(tmp_path / "f.parquet")
    assert list(back.columns) == list(IDENTITY_COLUMNS) + list(SEED.columns)
    assert back["slice"].dtype == np.int32
    np.testing.assert_array_equal(back[list(SEED.columns)].to_numpy(), table[list(SEED.columns)].to_numpy())
    assert feature_schema_of(back) is SEED
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]  # no temporary left behind


def test_float32_storage_reads_back_as_float64(tmp_path):
    table = seed_table(["a"])
    write_parquet_atomic(table, tmp_path / "f.parquet", float32=True)
    back = read_features(tmp_path / "f.parquet")
    assert back["mfcc1_mean"].dtype == np.float64
    np.testing.assert_allclose(back[list(SEED.columns)], table[list(SEED.columns)], rtol=1e-6)


def test_store_directory_reads_as_one_deduplicated_table(tmp_path):
    root = open_store(tmp_path / "store", SEED, 2)
    write_part(root, seed_table(["a", "b"]))
    write_part(root, seed_table(["b", "c"]))  # "b" twice, as after a crash between two writes
    table = read_features(root)
    assert table.groupby("track_id").size().to_dict() == {"a": 3, "b": 3, "c": 3}
    assert not table.duplicated(["track_id", "slice"]).any()
    assert done_keys(root) == {"a", "b", "c"}
    compact(root, tmp_path / "one.parquet")
    pd.testing.assert_frame_equal(read_features(tmp_path / "one.parquet"), table.reset_index(drop=True))


def test_store_refuses_other_settings_and_empty_store(tmp_path):
    root = open_store(tmp_path / "store", SEED, 10)
    with pytest.raises(FeatureTableError, match="no features yet"):
        read_features(root)
    with pytest.raises(FeatureTableError, match="gtzan-kaggle@1"):
        open_store(root, GTZAN_KAGGLE, 10)
    with pytest.raises(FeatureTableError, match="not a feature store"):
        read_features(tmp_path)


def test_errors_table_round_trip(tmp_path):
    errors = pd.DataFrame({"track_id": ["x"], "path": ["/x.wav"], "reason": ["damaged"]})
    write_errors(tmp_path, errors)
    pd.testing.assert_frame_equal(read_errors(tmp_path), errors)
    write_errors(tmp_path, errors.iloc[:0])
    assert read_errors(tmp_path).empty


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.drop(columns=["mfcc3_mean", "tempo"]), r"missing columns: .*tempo"),
    (lambda t: t.assign(extra=1.0), r"not in schema seed@1: extra"),
    (lambda t: t.assign(tempo=["fast", "120", "96"]), r"'tempo'.*rows 0"),
    (lambda t: t.assign(rms_mean=[1.0, np.nan, 1.0]), r"'rms_mean'.*rows 1"),
    (lambda t: t.assign(slice=[0, 0, 1]), r"more than once, rows 0, 1"),
    (lambda t: t.assign(schema_version="seed@0"), r"not the running version"),
    (lambda t: t.assign(schema_version="mystery@1"), r"Unknown feature schema"),
    (lambda t: t.drop(columns=["schema_version"]), r"no 'schema_version' column"),
])
def test_bad_tables_are_refused_with_the_culprit_named(tmp_path, change, message):
    path = tmp_path / "bad.parquet"
    change(seed_table(["a"])).to_parquet(path)
    with pytest.raises(FeatureTableError, match=message):
        read_features(path)


def test_any_genre_labels_are_read(tmp_path):
    """A table of other genres (FMA's, a user's own) is a table like any other: a model learns the set it is given."""
    path = tmp_path / "other.parquet"
    seed_table(["a"]).assign(label=["punk", "lo-fi", "punk"]).to_parquet(path)
    assert read_features(path)["label"].tolist() == ["punk", "lo-fi", "punk"]


def test_not_parquet_and_missing_paths(tmp_path):
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(FeatureTableError, match="not a readable Parquet"):
        read_features(tmp_path / "junk.parquet")
    with pytest.raises(FeatureTableError, match="no such file"):
        read_features(tmp_path / "absent.parquet")
    assert issubclass(FeatureTableError, ValueError)


def test_csv_30_sec_rows_become_whole_track_rows(tmp_path):
    kaggle_csv(tmp_path, ["blues.00000.wav", "blues.00001.wav"], length=661794)
    table = read_features(tmp_path / "features.csv")
    assert table["track_id"].tolist() == ["blues.00000", "blues.00001"]
    assert table["slice"].tolist() == [WHOLE_TRACK] * 2
    assert table["start_s"].tolist() == [0.0, 0.0]
    assert table["duration_s"].iloc[0] == pytest.approx(30.01, abs=0.01)
    assert feature_schema_of(table) is GTZAN_KAGGLE and table["path"].tolist() == ["", ""]
    assert list(table.columns) == list(IDENTITY_COLUMNS) + list(GTZAN_KAGGLE.columns)


def test_csv_3_sec_rows_become_slices(tmp_path):
    kaggle_csv(tmp_path, ["jazz.00012.0.wav", "jazz.00012.7.wav", "jazz.00013.1.wav"], label="jazz")
    table = read_gtzan_csv(tmp_path / "features.csv")
    assert table["track_id"].tolist() == ["jazz.00012", "jazz.00012", "jazz.00013"]
    assert table["slice"].tolist() == [0, 7, 1]
    assert table["start_s"].tolist() == [0.0, 21.0, 3.0]
    assert table["duration_s"].iloc[0] == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"filename": ["blues.00000.wav", "notes.txt"]}, "'filename'.*rows 1"),
    ({"mfcc20_var": ["1.0", "n/a"]}, "'mfcc20_var'.*rows 1"),
    ({"extra": 1}, "unexpected columns: extra"),
])
def test_bad_csvs_are_refused(tmp_path, overrides, message):
    kaggle_csv(tmp_path, ["blues.00000.wav", "blues.00001.wav"], **overrides)
    with pytest.raises(FeatureTableError, match=message):
        read_features(tmp_path / "features.csv")


def test_csv_missing_columns(tmp_path):
    kaggle_csv(tmp_path, ["blues.00000.wav"]).drop(columns=["tempo", "label"]).to_csv(
        tmp_path / "features.csv", index=False)
    with pytest.raises(FeatureTableError, match="missing columns: label, tempo"):
        read_features(tmp_path / "features.csv")


def test_published_csvs(shared_data):
    table = read_features(shared_data / "features" / "features_30_sec.csv")
    assert len(table) == 1000 and table["track_id"].nunique() == 1000
    assert table.groupby("label").size().eq(100).all()
    slices = read_features(shared_data / "features" / "features_3_sec_subset.csv")
    assert set(slices["label"]) == {"classical", "jazz", "rock"}
    assert slices["slice"].between(0, 9).all()
    assert set(slices["track_id"]) <= set(table["track_id"])

"""Feature schemas: column names, order, counts, versions and lookup errors."""

from __future__ import annotations

import pandas as pd
import pytest

from core.features.schema import GTZAN_KAGGLE, IDENTITY_COLUMNS, SCHEMAS, SEED, get_schema


def test_seed_columns_in_order() -> None:
    # chroma 12 + rms + centroid + bandwidth + rolloff + zcr + contrast 7 + tonnetz 6 + mfcc 13 = 43 signals,
    # each mean and var (86), plus tempo.
    cols = SEED.columns
    assert len(cols) == 87 == len(set(cols))
    assert cols[:4] == ("chroma1_mean", "chroma1_var", "chroma2_mean", "chroma2_var")
    assert cols[24:34] == ("rms_mean", "rms_var", "spectral_centroid_mean", "spectral_centroid_var",
                           "spectral_bandwidth_mean", "spectral_bandwidth_var", "rolloff_mean", "rolloff_var",
                           "zero_crossing_rate_mean", "zero_crossing_rate_var")
    assert cols[34:48] == tuple(f"spectral_contrast{i}_{s}" for i in range(1, 8) for s in ("mean", "var"))
    assert cols[48:60] == tuple(f"tonnetz{i}_{s}" for i in range(1, 7) for s in ("mean", "var"))
    assert cols[60] == "tempo"
    assert cols[61:] == tuple(f"mfcc{i}_{s}" for i in range(1, 14) for s in ("mean", "var"))


def test_gtzan_kaggle_matches_published_header() -> None:
    header = ["filename", "length", "chroma_stft_mean", "chroma_stft_var", "rms_mean", "rms_var",
              "spectral_centroid_mean", "spectral_centroid_var", "spectral_bandwidth_mean",
              "spectral_bandwidth_var", "rolloff_mean", "rolloff_var", "zero_crossing_rate_mean",
              "zero_crossing_rate_var", "harmony_mean", "harmony_var", "perceptr_mean", "perceptr_var", "tempo",
              *[f"mfcc{i}_{s}" for i in range(1, 21) for s in ("mean", "var")], "label"]
    assert GTZAN_KAGGLE.columns == tuple(header[2:-1])
    assert len(GTZAN_KAGGLE.columns) == 57


def test_gtzan_kaggle_matches_csv_file(shared_data) -> None:
    header = pd.read_csv(shared_data / "features" / "features_30_sec.csv", nrows=0).columns
    assert GTZAN_KAGGLE.columns == tuple(header[2:-1])


def test_identity_columns_do_not_clash_with_features() -> None:
    for schema in SCHEMAS.values():
        assert not set(IDENTITY_COLUMNS) & set(schema.columns)


def test_ids_and_lookup() -> None:
    assert SEED.id == f"seed@{SEED.version}"
    assert get_schema("seed") is SEED
    assert get_schema(GTZAN_KAGGLE.id) is GTZAN_KAGGLE


def test_unknown_schema_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="seed.*gtzan-kaggle"):
        get_schema("mfcc-only")


def test_other_version_is_refused() -> None:
    with pytest.raises(KeyError, match="re-extract"):
        get_schema("seed@999")


def test_describe_every_column() -> None:
    for schema in SCHEMAS.values():
        for col in schema.columns:
            assert schema.describe(col)
    assert "varies" in SEED.describe("mfcc1_var") and "average" in SEED.describe("mfcc1_mean")
    with pytest.raises(KeyError):
        SEED.describe("nope")

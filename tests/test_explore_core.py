"""core.data.explore: the analyses behind the Explore page."""

import numpy as np
import pandas as pd
import pytest

from core.data.explore import (
    AudioIndex,
    correlation,
    filter_rows,
    genre_outliers,
    genre_summary,
    pca_projection,
    readable_name,
    row_kinds,
    sample_rows,
    select_rows,
    separability,
    synthetic_table,
)
from core.data.store import validate_features
from core.features.schema import GTZAN_KAGGLE, SEED, WHOLE_TRACK
from core.modes import LAB_SCAN


def small_table(n_per_genre: int = 30, seed: int = 0) -> pd.DataFrame:
    """Two genres; 'loud' separates them, 'noise' does not, 'twin' copies 'loud', 'flat' is constant."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["jazz", "rock"], n_per_genre)
    loud = np.where(labels == "rock", 10.0, 0.0) + rng.normal(0, 1, len(labels))
    return pd.DataFrame({
        "track_id": [f"t{i}" for i in range(len(labels))], "slice": WHOLE_TRACK, "label": labels,
        "loud": loud, "noise": rng.normal(0, 1, len(labels)), "twin": 2 * loud + 1, "flat": 3.0,
    })


def test_readable_names_cover_every_column_of_both_schemas():
    assert readable_name(SEED, "mfcc3_var") == "MFCC 3 · variation"
    assert readable_name(SEED, "chroma2_mean") == "Chroma C# · mean"
    assert readable_name(SEED, "tempo") == "Tempo (BPM)"
    assert readable_name(GTZAN_KAGGLE, "chroma_stft_mean") == "Chroma · mean"
    for schema in (SEED, GTZAN_KAGGLE):
        names = [readable_name(schema, c) for c in schema.columns]
        assert len(set(names)) == len(names)


def test_synthetic_table_is_a_valid_feature_table_and_rows_split_by_kind():
    df = validate_features(synthetic_table(SEED, n_tracks=12, slices=3))
    assert row_kinds(df) == {"track": 12, "slice": 36}
    assert (select_rows(df, "track")["slice"] == WHOLE_TRACK).all()
    assert (select_rows(df, "slice")["slice"] >= 0).all()


def test_filters_by_genre_and_feature_range():
    df = small_table()
    assert set(filter_rows(df, genres=["rock"])["label"]) == {"rock"}
    loud_rock = filter_rows(df, ranges={"loud": (5.0, 100.0)})
    assert len(loud_rock) and (loud_rock["loud"] >= 5).all() and (loud_rock["label"] == "rock").all()
    assert len(filter_rows(df, genres=[])) == 0
    assert len(filter_rows(df)) == len(df)


def test_sampling_keeps_every_genre_and_says_so():
    df = small_table(n_per_genre=500)
    sample, note = sample_rows(df, 100)
    assert len(sample) == 100 and set(sample["label"]) == {"jazz", "rock"}
    assert "100 of 1,000" in note
    same, none = sample_rows(df, 5_000)
    assert none is None and len(same) == len(df)


def test_genre_summary_counts_rows_and_tracks():
    df = validate_features(synthetic_table(SEED, n_tracks=10, slices=2))
    summary = genre_summary(select_rows(df, "slice"), ["tempo"])
    assert summary.loc["jazz", "rows"] == 4 and summary.loc["jazz", "tracks"] == 2
    rows = select_rows(df, "slice")
    assert summary.loc["jazz", "tempo"] == pytest.approx(rows.loc[rows["label"] == "jazz", "tempo"].mean())


def test_separability_ranks_the_informative_feature_first():
    ranking = separability(small_table(), ["noise", "loud", "flat"])
    assert ranking["feature"].iloc[0] == "loud"
    assert ranking.set_index("feature").loc["loud", "mutual_info"] > ranking.set_index("feature").loc["noise", "mutual_info"]
    assert np.isfinite(ranking[["anova_f", "p_value", "mutual_info"]].to_numpy()).all()
    quick = separability(small_table(), ["noise", "loud"], mutual_info=False)
    assert list(quick.columns) == ["feature", "anova_f", "p_value"] and quick["feature"].iloc[0] == "loud"
    with pytest.raises(ValueError, match="two genres"):
        separability(filter_rows(small_table(), genres=["jazz"]), ["loud"])


def test_pca_projection_separates_distinct_genres():
    df = small_table()
    coords, ratio = pca_projection(df, ["loud", "noise", "twin"])
    assert coords.shape == (len(df), 2) and ratio[0] >= ratio[1] and ratio.sum() <= 1 + 1e-9
    first = pd.Series(coords[:, 0]).groupby(df["label"].to_numpy()).mean()
    assert abs(first["rock"] - first["jazz"]) > 2


def test_correlation_handles_copies_and_constants():
    corr = correlation(small_table(), ["loud", "twin", "flat"])
    assert corr.loc["loud", "twin"] == pytest.approx(1.0)
    assert corr.loc["loud", "flat"] == 0.0 and corr.loc["flat", "flat"] == 1.0
    assert not corr.isna().any().any()


def test_a_planted_mislabel_tops_the_outlier_list():
    df = small_table()
    df.loc[3, ["loud", "twin"]] = [10.0, 21.0]  # a jazz row that sounds like rock
    outliers = genre_outliers(df, ["loud", "twin"])
    top = outliers.iloc[0]
    assert top.name == 3 and top["nearest_other"] == "rock" and top["ratio"] > 1
    assert (outliers["ratio"].iloc[1:] < 1).mean() > 0.9


def test_audio_is_found_by_path_or_name_but_only_under_the_root(tmp_path):
    root = tmp_path / "data"
    (root / "jazz").mkdir(parents=True)
    clip = root / "jazz" / "jazz.00001.wav"
    clip.write_bytes(b"RIFF")
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    index = AudioIndex.scan(root, LAB_SCAN)
    assert index.locate(str(clip), "whatever") == clip.resolve()
    assert index.locate("jazz/jazz.00001.wav", "x") == clip.resolve()
    assert index.locate("", "gtzan/jazz/jazz.00001") == clip.resolve()
    assert index.locate(str(tmp_path / "secret.wav"), "secret") is None
    assert index.locate("../secret.wav", "secret") is None

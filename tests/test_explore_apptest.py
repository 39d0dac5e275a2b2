"""The Explore page's logic through Streamlit's AppTest (no browser): sources, filters, views, track panel."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.data.explore import synthetic_table
from core.data.store import store_from_table, write_parquet_atomic
from core.features.schema import GTZAN_KAGGLE, SEED
from ui.plain import plain

PATH_CHOICE = "Another file or store folder (path)…"
UPLOAD_CHOICE = "Upload a CSV or Parquet file…"
REPO = Path(__file__).resolve().parents[1]
VIEWS = ("Distributions", "Scatter", "PCA map", "Best features", "Likely mislabels", "Genre summary", "Correlations")


@pytest.fixture
def table_path(tmp_path: Path) -> Path:
    """10 tracks (2 per genre of 5), 2 slices each, seed schema."""
    return write_parquet_atomic(synthetic_table(SEED, n_tracks=10, slices=2), tmp_path / "features.parquet")


@pytest.fixture
def no_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPUNK_DATA_DIR", "")


def explore(path: Path | None = None) -> AppTest:
    """The Explore page, showing the table at ``path`` when given."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.switch_page("app_pages/explore.py").run()
    if path is not None:
        at.selectbox(key="explore_source").select(PATH_CHOICE).run()
        at.text_input(key="explore_path").input(str(path)).run()
    assert not at.exception, at.exception
    return at


def counts(at: AppTest) -> str:
    return next(m.value for m in at.markdown if " of " in m.value and "genres" in m.value)


def test_path_source_counts_tracks_and_switches_to_slices(no_dataset, table_path):
    at = explore(table_path)
    assert counts(at).startswith("**10** of 10 tracks · 5 genres · schema `seed@1`")
    at.segmented_control(key="explore_kind").set_value("slice").run()
    assert counts(at).startswith("**20** of 20 slice rows from 10 tracks")


def test_genre_and_range_filters_update_the_counts(no_dataset, table_path):
    at = explore(table_path)
    at.pills(key="explore_genres").set_value(["jazz", "rock"]).run()
    assert counts(at).startswith("**4** of 10 tracks · 2 genres")
    at.multiselect(key="explore_range_columns").set_value(["tempo"]).run()
    low, high = at.slider(key="explore_range_tempo").value
    at.slider(key="explore_range_tempo").set_range(low, low + 1e-9).run()
    assert counts(at).startswith("**1** of 10 tracks")
    assert at.warning and "two genres" in at.warning[0].value


def test_every_view_renders(no_dataset, table_path):
    at = explore(table_path)
    for view in VIEWS:
        at.session_state["explore_view"] = view
        at.run()
        assert not at.exception, (view, at.exception)
    at.session_state["explore_view"] = "Likely mislabels"
    at.run()
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 10
    at.session_state["explore_view"] = "Best features"
    at.run()
    ranking = at.dataframe[0].value
    assert len(ranking) == len(SEED.columns) and ranking["mutual_info"].notna().all()
    assert ranking["anova_f"].is_monotonic_decreasing


def test_a_published_gtzan_csv_can_be_uploaded(no_dataset):
    table = synthetic_table(GTZAN_KAGGLE, n_tracks=6)
    csv = table[list(GTZAN_KAGGLE.columns)].assign(
        filename=[f"{t.split('/')[1]}.wav" for t in table["track_id"]], length=661794, label=table["label"])
    at = explore()
    at.selectbox(key="explore_source").select(UPLOAD_CHOICE).run()
    at.file_uploader(key="explore_upload").upload("features_30_sec.csv", csv.to_csv(index=False).encode(), "text/csv")
    at.run()
    assert not at.exception and not at.error
    assert "schema `gtzan-kaggle@1`" in counts(at)


def test_a_table_with_wrong_columns_gets_a_clear_message(no_dataset):
    at = explore()
    at.selectbox(key="explore_source").select(UPLOAD_CHOICE).run()
    at.file_uploader(key="explore_upload").upload("mine.csv", b"a,b\n1,2\n", "text/csv")
    at.run()
    assert not at.exception
    assert "cannot be explored" in at.error[0].value and "missing columns" in at.error[0].value


def test_each_bad_table_upload_gets_its_message_and_a_good_one_then_opens(no_dataset, tmp_path):
    """The bad-table cases a visitor can upload as a file (every case at the core level: tests/test_bad_inputs.py)."""
    from bad_input_cases import TABLE_CASES, gtzan_csv

    at = explore()
    at.selectbox(key="explore_source").select(UPLOAD_CHOICE).run()
    for case in TABLE_CASES:
        folder = tmp_path / case.name.replace(" ", "_")
        folder.mkdir()
        made = case.build(folder)
        if not made.is_file() or not case.refused:  # a store folder cannot be uploaded; an accepted table opens
            continue
        at.file_uploader(key="explore_upload").upload(made.name, made.read_bytes(), "application/octet-stream")
        at.run()
        assert not at.exception, at.exception
        assert "cannot be explored" in at.error[0].value and plain(case.refused) in at.error[0].value, case.name
    good = gtzan_csv(tmp_path, "good.csv")
    at.file_uploader(key="explore_upload").upload(good.name, good.read_bytes(), "text/csv")
    at.run()
    assert not at.exception and not at.error
    assert counts(at).startswith("**4** of 4 tracks")


def test_a_missing_path_says_so(no_dataset, tmp_path):
    at = explore(tmp_path / "nope.parquet")
    assert "no such file" in at.error[0].value.lower() or "not found" in at.error[0].value.lower()


def test_selected_track_shows_its_audio_when_under_the_dataset_folder(monkeypatch, tmp_path, make_wav):
    table = synthetic_table(SEED, n_tracks=10)
    table_path = write_parquet_atomic(table, tmp_path / "t.parquet")
    row = int(np.flatnonzero(table["track_id"] == "jazz/jazz.00002")[0])
    monkeypatch.setenv("CPUNK_DATA_DIR", "")
    at_without = explore(table_path)
    at_without.session_state["explore_selected"] = (str(table_path), row)
    at_without.run()
    assert any("jazz/jazz.00002" in h.value for h in at_without.subheader)
    assert any("cannot be played" in c.value for c in at_without.caption)

    data = tmp_path / "data"
    make_wav("tone", name="data/jazz/jazz.00002.wav", seconds=2.0)
    monkeypatch.setenv("CPUNK_DATA_DIR", str(data))
    at = explore(table_path)
    at.session_state["explore_selected"] = (str(table_path), row)
    at.run()
    assert len(at.get("audio")) == 1
    assert any("jazz/jazz.00002.wav" in c.value for c in at.caption)
    unusual = at.dataframe[-1].value
    assert list(unusual.columns) == ["feature", "value", "Jazz mean", "z"] and len(unusual) == 8


def test_the_shipped_demo_table_opens_by_default(no_dataset):
    if not (REPO / "demo" / "gtzan_seed.parquet").exists():
        pytest.skip("demo/gtzan_seed.parquet not built yet")
    at = explore()
    assert at.selectbox(key="explore_source").value == "Demo: gtzan_seed"
    assert "genres · schema `seed@1`" in counts(at)


def test_the_published_gtzan_csv_in_the_dataset_folder_opens(shared_data, monkeypatch):
    monkeypatch.setenv("CPUNK_DATA_DIR", str(shared_data))
    at = explore()
    at.selectbox(key="explore_source").select("Dataset: features/features_30_sec.csv").run()
    assert counts(at).startswith("**1,000** of 1,000 tracks · 10 genres · schema `gtzan-kaggle@1`")
    at.session_state["explore_view"] = "Best features"
    at.run()
    assert not at.exception and len(at.dataframe[0].value) == len(GTZAN_KAGGLE.columns)


def test_a_store_directory_from_extract_opens_as_one_table(no_dataset, tmp_path):
    table = synthetic_table(SEED, n_tracks=10, slices=2)
    store = tmp_path / "store"
    store_from_table(store, table.iloc[:15], SEED, max_slices=2)  # two parts, as `python -m core extract` writes
    store_from_table(store, table.iloc[15:], SEED, max_slices=2)
    at = explore(store)
    assert counts(at).startswith("**10** of 10 tracks · 5 genres · schema `seed@1`")

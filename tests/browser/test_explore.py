"""The Explore page in a real browser: a table by path, the demo table, an upload, views, filters, point and
row selection, download. (The dataset folder's tables and audio are checked through AppTest.)"""

from pathlib import Path

import pandas as pd
import pytest
from browser_harness import open_page, rerun_after, set_dataset_folder, upload_files

from core.data.explore import synthetic_table
from core.data.store import write_parquet_atomic
from core.features.schema import SEED

VIEWS = ("Distributions", "Scatter", "PCA map", "Best features", "Likely mislabels", "Genre summary", "Correlations")
CLICK_FIRST_POINT = """() => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, t = gd._fullData[0];
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(t.x[0]), y: box.top + ya._offset + ya.l2p(t.y[0]), name: t.hovertext[0]};
}"""


@pytest.fixture(scope="module")
def table_path(tmp_path_factory) -> Path:
    """40 made-up tracks (8 per genre of 5) with 3 slices each."""
    path = tmp_path_factory.mktemp("explore") / "features.parquet"
    return write_parquet_atomic(synthetic_table(SEED, n_tracks=40, slices=3), path)


def counts(page) -> str:
    return page.locator('[data-testid="stMarkdown"]').filter(has_text="genres · schema").inner_text()


def pick_source(page, option: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Feature table").click()
    rerun_after(page, page.get_by_role("option", name=option).click)


def open_table(page, url: str, path: Path) -> None:
    open_page(page, f"{url}/explore")
    pick_source(page, "Another file or store folder (path)…")
    field = page.get_by_label("Path to a feature table")
    field.fill(str(path))
    rerun_after(page, lambda: field.press("Enter"))


def show_view(page, name: str) -> None:
    rerun_after(page, page.get_by_role("tab", name=name).click)


def click_first_point(page) -> str:
    """Click the first point of the first plotly chart; returns that point's track id."""
    page.locator('[data-testid="stPlotlyChart"]').first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # plotly draws after the script run ends
    point = page.evaluate(CLICK_FIRST_POINT)
    page.mouse.move(point["x"], point["y"])
    rerun_after(page, lambda: page.mouse.click(point["x"], point["y"]))
    return point["name"]


def assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_every_view_of_a_table_given_by_path(page, app_url, table_path, shot):
    open_table(page, app_url, table_path)
    assert counts(page).startswith("40 of 40 tracks · 5 genres")
    for name in VIEWS:
        show_view(page, name)
        assert_no_exception(page)
        expects = "stDataFrame" if name in ("Likely mislabels", "Genre summary") else "stPlotlyChart"
        assert page.locator(f'[data-testid="{expects}"]').count() >= 1, name
        shot(page, name.lower().replace(" ", "-"))


def test_filters_update_counts_and_the_csv_download_matches(page, app_url, table_path, shot):
    open_table(page, app_url, table_path)
    rerun_after(page, page.get_by_text("3-s slices (120)").click)
    assert counts(page).startswith("120 of 120 slice rows from 40 tracks")
    sidebar = page.locator('[data-testid="stSidebar"]')
    for genre in ("Blues", "Metal"):  # genre names as written for people
        rerun_after(page, sidebar.get_by_text(genre, exact=True).click)
    assert counts(page).startswith("72 of 120 slice rows from 24 tracks · 3 genres")
    shot(page, "filtered")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = pd.read_csv(download.value.path())
    assert len(rows) == 72 and set(rows["label"]) == {"classical", "jazz", "rock"}
    assert (rows["slice"] >= 0).all()


def test_selecting_a_point_of_the_demo_table_shows_its_track(page, app_url, tmp_path, shot):
    """The demo table opens by default; a click on the PCA map opens that track (its audio player, from the
    dataset folder, is checked through AppTest: tests/test_explore_apptest.py)."""
    open_page(page, f"{app_url}/explore")
    assert "schema seed@1" in counts(page)
    set_dataset_folder(page, tmp_path)  # a dataset folder without the tracks' audio
    show_view(page, "PCA map")
    track = click_first_point(page)
    assert page.get_by_role("heading", name=track).is_visible()
    assert page.get_by_text("Audio not found under the dataset folder").is_visible()
    shot(page, "selected")


def test_a_likely_mislabel_can_be_selected_from_the_list(page, app_url, table_path, shot):
    open_table(page, app_url, table_path)
    show_view(page, "Likely mislabels")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    rerun_after(page, lambda: page.mouse.click(box["x"] + 16, box["y"] + 35 + 17))  # first row's checkbox
    assert page.locator('[data-testid="stHeading"]').filter(has_text="/").count() == 1
    assert page.get_by_text("What is unusual for").is_visible()
    shot(page, "mislabel-selected")


def test_a_bad_table_upload_is_refused_and_a_good_one_then_explored(page, app_url, table_path, tmp_path, shot):
    """The browser's one bad table (every bad-table case's message: tests/test_explore_apptest.py)."""
    open_page(page, f"{app_url}/explore")
    pick_source(page, "Upload a CSV or Parquet file…")
    bad = tmp_path / "not-features.csv"
    bad.write_text("a,b\n1,2\n")
    upload_files(page, "Feature table file", bad)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="cannot be explored")
    assert "missing columns" in alert.inner_text()
    assert_no_exception(page)
    shot(page, "bad-upload")
    upload_files(page, "Feature table file", table_path)
    assert counts(page).startswith("40 of 40 tracks")
    assert alert.count() == 0
    assert_no_exception(page)

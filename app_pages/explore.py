"""Explore a feature table: how genres differ, which features separate them, which tracks look mislabelled."""

import pandas as pd
import streamlit as st

from core.data.explore import MI_MAX_ROWS, readable_name, row_kinds
from core.data.store import feature_schema_of
from core.display import LEVEL_NAMES, genre_name
from core.features.schema import genre_order
from ui import explore_data as data
from ui import explore_views as views
from ui.loaders import audio_index
from ui.mode import readable
from ui.plain import plain
from ui.settings import data_dir
from ui.table_picker import choose_table, read_table

# Rows drawn per chart (a stratified sample beyond that, with a note): violins/boxes are computed in
# the browser, scatters draw with WebGL; statistics, rankings and the projection always use all rows.
MAX_POINTS = {"distribution": 5_000, "scatter": 10_000}
TOP_OUTLIERS = 100
DEFAULT_FEATURES = ("spectral_centroid_mean", "rms_mean", "tempo", "mfcc2_mean", "zero_crossing_rate_mean",
                    "chroma_stft_mean", "chroma1_mean")
CORRELATION_PARTS = {"mean": "Averages over time", "var": "Variation over time", "all": "All features"}
SELECTED = "explore_selected"  # (table path, row index label) of the track shown under the charts

st.title("Explore the dataset")
st.caption("How do genres differ? Pick a feature table, filter it, compare genres feature by feature, "
           "and click any point to inspect (and hear) its track.")


def feature_picker(label: str, columns: list[str], default: str, key: str) -> str:
    return st.selectbox(label, columns, index=columns.index(default), key=key,
                        format_func=lambda c: readable_name(schema, c))


def remember_point(key: str, path: str) -> None:
    """Plot selection callback: remember the first selected point's table row."""
    points = st.session_state[key].selection.points
    if points:
        custom = points[0]["customdata"]  # [row], or {"0": row} when plotly sent a typed array
        st.session_state[SELECTED] = (path, int(next(iter(custom.values())) if isinstance(custom, dict) else custom[0]))


def remember_outlier(key: str, path: str, index: list[int]) -> None:
    """Outlier table selection callback: remember the selected row's table row."""
    picked = st.session_state[key].selection.rows
    if picked:
        st.session_state[SELECTED] = (path, index[picked[0]])


def plot_sample(chart: str) -> pd.DataFrame:
    """The rows a chart draws; says so under the chart when they are a sample."""
    index, note = data.plot_sample(query, MAX_POINTS[chart])
    if note:
        st.caption(f":material/info: {note} Statistics and rankings use all rows.")
    return rows.loc[index]


def show_track(table: pd.DataFrame, row_label: int, query: data.Query) -> None:
    """The selected track: identity, audio when reachable, and the features that are unusual for its genre."""
    row = table.loc[row_label]
    part = "whole track" if row["slice"] < 0 else f"slice {row['slice']} ({row['start_s']:.0f}–{row['start_s'] + row['duration_s']:.0f} s)"
    with st.container(border=True):
        st.subheader(f":material/music_note: {plain(row['track_id'])}")
        st.markdown(f"Labelled **{plain(genre_name(row['label']))}** · {part}")
        root = data_dir()
        index = audio_index(root) if root else None
        audio = index.locate(row["path"], row["track_id"]) if index else None
        if audio is not None:
            end = None if row["slice"] < 0 else int(row["start_s"] + row["duration_s"])  # a slice plays alone
            st.audio(str(readable(audio)), start_time=int(row["start_s"]), end_time=end)
            st.caption(f"Audio: {plain(audio.relative_to(root.resolve()))}")
        elif root and index is None:
            st.caption("Still looking for audio files in the dataset folder; select the track again in a moment.")
        else:
            st.caption("Audio not found under the dataset folder (sidebar), so it cannot be played.")
        means, stds = data.genre_stats(query, features)
        if row["label"] in means.index:
            z = (row[features].astype(float) - means.loc[row["label"]]) / stds.loc[row["label"]].where(lambda s: s > 0)
            top = z.abs().sort_values(ascending=False).head(8).index
            st.markdown(f"**What is unusual for {plain(genre_name(row['label']))}** (z = distance from the genre mean in standard deviations)")
            st.dataframe(pd.DataFrame({
                "feature": [readable_name(schema, c) for c in top], "value": row[top].astype(float).to_numpy(),
                f"{genre_name(row['label'])} mean": means.loc[row["label"], top].to_numpy(), "z": z[top].to_numpy(),
            }), hide_index=True, width="stretch",
                column_config={"value": st.column_config.NumberColumn(format="%.4g"),
                               f"{genre_name(row['label'])} mean": st.column_config.NumberColumn(format="%.4g"),
                               "z": st.column_config.NumberColumn(format="%+.1f")})


path, _ = choose_table("explore")
table, version = read_table(path, "explored")
schema = feature_schema_of(table)
features = list(schema.columns)
kinds = row_kinds(table)

# Row kind and filters ----------------------------------------------------------------------------
kind_options = [k for k in ("track", "slice") if kinds[k]]
level = st.segmented_control("Rows", kind_options, default=kind_options[0], required=True, key="explore_kind",
                             format_func=lambda k: f"{LEVEL_NAMES[k]} ({kinds[k]:,})")
all_rows = data.kind_rows(str(path), version, level)
present = genre_order(all_rows["label"])
with st.sidebar:
    st.subheader("Filters")
    genres = st.pills("Genres", present, selection_mode="multi", default=present, key="explore_genres",
                      format_func=genre_name) or []
    range_columns = st.multiselect("Feature ranges", features, key="explore_range_columns",
                                   format_func=lambda c: readable_name(schema, c), max_selections=3,
                                   help="Add a feature to keep only rows inside a range of its values.")
    ranges = []
    for column in range_columns:
        low, high = data.bounds(str(path), version, level, column)
        if high > low:
            lo, hi = st.slider(readable_name(schema, column), low, high, (low, high), key=f"explore_range_{column}")
            ranges.append((column, float(lo), float(hi)))
query: data.Query = (str(path), version, level, tuple(genres), tuple(ranges))
rows = data.rows(query)

count, download = st.columns([4, 1], vertical_alignment="center")
shown = (f"**{len(rows):,}** of {len(all_rows):,} slice rows from {rows['track_id'].nunique():,} tracks" if level == "slice"
         else f"**{len(rows):,}** of {len(all_rows):,} tracks")
count.markdown(f"{shown} · {rows['label'].nunique()} genres · schema `{schema.id}`")
download.download_button("Download CSV", data=lambda: rows.to_csv(index=False), file_name="features-filtered.csv",
                         mime="text/csv", icon=":material/download:", on_click="ignore", disabled=rows.empty)
if rows["label"].nunique() < 2:
    st.warning("Keep at least two genres (sidebar filters) to compare them.")
    st.stop()

defaults = [c for c in DEFAULT_FEATURES if c in features] + features

tabs = st.tabs(["Distributions", "Scatter", "PCA map", "Best features", "Likely mislabels", "Genre summary",
                "Correlations"], key="explore_view", on_change="rerun")
dist_tab, scatter_tab, pca_tab, best_tab, outlier_tab, summary_tab, corr_tab = tabs

if dist_tab.open:
    with dist_tab:
        left, right = st.columns([3, 2], vertical_alignment="bottom")
        with left:
            column = feature_picker("Feature", features, defaults[0], "explore_dist_feature")
        plot = right.segmented_control("Plot", ["Violin", "Box", "Histogram"], default="Violin", required=True,
                                       key="explore_dist_kind")
        st.caption(schema.describe(column) + (" · Click a genre in the legend to hide or show it."
                                               if plot == "Histogram" else ""))
        sample = plot_sample("distribution")
        st.plotly_chart(views.distribution(sample, column, plot, schema), key="explore_dist_chart")

if scatter_tab.open:
    with scatter_tab:
        left, right = st.columns(2)
        with left:
            x = feature_picker("Horizontal axis", features, defaults[0], "explore_x")
            st.caption(schema.describe(x))
        with right:
            y = feature_picker("Vertical axis", features, defaults[1], "explore_y")
            st.caption(schema.describe(y))
        sample = plot_sample("scatter")
        st.plotly_chart(views.scatter(sample, x, y, schema), key="explore_scatter", selection_mode="points",
                        on_select=lambda: remember_point("explore_scatter", str(path)))

if pca_tab.open:
    with pca_tab:
        if len(rows) < 3:
            st.info("The projection needs at least 3 rows.")
        else:
            coords, ratio = data.pca(query, tuple(features))
            sample = plot_sample("scatter")
            positions = rows.index.get_indexer(sample.index)
            st.caption(f"All {len(features)} features, standardised, projected onto the two directions of "
                       f"largest variation ({ratio.sum():.0%} of it). Genres that overlap here sound alike "
                       "to these features. Click a point to inspect it.")
            st.plotly_chart(views.projection(sample, coords[positions], ratio), key="explore_pca",
                            selection_mode="points", on_select=lambda: remember_point("explore_pca", str(path)))

if best_tab.open:
    with best_tab:
        st.caption(f"Which single features separate the genres best. ANOVA F compares the spread between "
                   "genre averages with the spread inside each genre; mutual information measures how much "
                   f"the feature tells about the genre (estimated on up to {MI_MAX_ROWS:,} rows).")
        ranking = data.anova_ranking(query, tuple(features))
        st.plotly_chart(views.ranking(ranking, schema), key="explore_rank_chart")  # before the slower MI
        ranking = ranking.assign(mutual_info=data.mutual_information(query, tuple(features))[ranking["feature"]].to_numpy())
        st.dataframe(ranking.assign(feature=[readable_name(schema, c) for c in ranking["feature"]]),
                     hide_index=True, width="stretch",
                     column_config={"anova_f": st.column_config.NumberColumn("ANOVA F", format="%.1f"),
                                    "p_value": st.column_config.NumberColumn("p-value", format="%.1e"),
                                    "mutual_info": st.column_config.NumberColumn("mutual information", format="%.3f")})

if outlier_tab.open:
    with outlier_tab:
        worst = data.outliers(query, tuple(features), TOP_OUTLIERS)
        st.caption("Rows ranked by how far they sit from their own genre's centre compared with the nearest "
                   "other genre (all features, standardised). Above 1 the row is closer to another genre: "
                   "a likely mislabel or an unusual track. Select a row to inspect and play it.")
        st.dataframe(
            worst[["track_id", "slice", "label", "nearest_other", "ratio", "distance_own", "distance_other"]]
            .assign(label=lambda t: t["label"].map(genre_name), nearest_other=lambda t: t["nearest_other"].map(genre_name)),
            hide_index=True, width="stretch", height=420, key="explore_outliers", selection_mode="single-row",
            on_select=lambda: remember_outlier("explore_outliers", str(path), worst.index.tolist()),
            column_config={"track_id": "track", "label": "labelled", "nearest_other": "sounds closest to",
                           "slice": None if level != "slice" else st.column_config.NumberColumn("slice"),
                           "ratio": st.column_config.ProgressColumn("own / other distance", format="%.2f",
                                                                    min_value=0.0, max_value=max(2.0, float(worst["ratio"].max()))),
                           "distance_own": st.column_config.NumberColumn("to own genre", format="%.2f"),
                           "distance_other": st.column_config.NumberColumn("to nearest other", format="%.2f")})

if summary_tab.open:
    with summary_tab:
        chosen = st.multiselect("Features", features, default=defaults[:5], key="explore_summary_features",
                                format_func=lambda c: readable_name(schema, c))
        table_view = data.summary(query, tuple(chosen)).rename(columns=lambda c: c if c in ("rows", "tracks") else readable_name(schema, c))
        st.dataframe(table_view.rename(index=genre_name), width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4g") for c in table_view.columns[2:]})
        st.caption("Mean of each feature per genre over the filtered rows.")

if corr_tab.open:
    with corr_tab:
        st.caption("Pearson correlation between features over the filtered rows: red moves together, blue "
                   "moves oppositely. Blocks of red are features that carry the same information.")
        part = st.segmented_control("Features", ["mean", "var", "all"], default="mean", required=True,
                                    key="explore_corr_part", format_func=CORRELATION_PARTS.get)
        shown = [c for c in features if part == "all" or not c.endswith(("_mean", "_var")) or c.endswith(f"_{part}")]
        st.plotly_chart(views.correlation_map(data.correlation(query, tuple(shown)), schema), key="explore_corr")


selected = st.session_state.get(SELECTED)
if selected and selected[0] == str(path) and selected[1] in table.index:
    show_track(table, selected[1], query)

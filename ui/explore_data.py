"""Cached views of a feature table for the Explore page.

A *query* is ``(path, version, slices, genres, ranges)``: which table (and file version), whole-track
or slice rows, the genres kept and ``(column, low, high)`` feature ranges. Everything here is keyed by
small hashable arguments, so a rerun with unchanged widgets recomputes nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.data import explore
from core.data.training_data import Level
from ui.loaders import TABLES, load_table

Query = tuple[str, float, Level, tuple[str, ...], tuple[tuple[str, float, float], ...]]


def kind_rows(path: str, version: float, level: Level) -> pd.DataFrame:
    """The whole-track or slice rows of a table (shared, read-only, kept in :data:`ui.loaders.TABLES`)."""
    found = TABLES.get(("kind", path, version, level))
    if found is None:
        found = TABLES.put(("kind", path, version, level), explore.select_rows(load_table(path, version), level))
    return found


def rows(query: Query) -> pd.DataFrame:
    """The rows a query keeps (shared, read-only, kept in :data:`ui.loaders.TABLES`)."""
    found = TABLES.get(("rows", query))
    if found is None:
        path, version, level, genres, ranges = query
        kept = explore.filter_rows(kind_rows(path, version, level), genres, {c: (lo, hi) for c, lo, hi in ranges})
        found = TABLES.put(("rows", query), kept)
    return found


@st.cache_data(max_entries=8)
def bounds(path: str, version: float, level: Level, column: str) -> tuple[float, float]:
    """Smallest and largest value of a feature among the rows of one kind (for range sliders)."""
    values = kind_rows(path, version, level)[column]
    return float(values.min()), float(values.max())


@st.cache_data(max_entries=16)
def plot_sample(query: Query, max_rows: int) -> tuple[pd.Index, str | None]:
    """Index labels of at most ``max_rows`` rows to plot (stratified by genre) and the note to show."""
    sample, note = explore.sample_rows(rows(query), max_rows)
    return sample.index, note


@st.cache_data(max_entries=16)
def summary(query: Query, features: tuple[str, ...]) -> pd.DataFrame:
    return explore.genre_summary(rows(query), features)


@st.cache_data(max_entries=16, show_spinner="Ranking features…")
def anova_ranking(query: Query, features: tuple[str, ...]) -> pd.DataFrame:
    """Features by ANOVA F, best first (fast)."""
    return explore.separability(rows(query), features, mutual_info=False)


@st.cache_data(max_entries=16, show_spinner="Estimating mutual information…")
def mutual_information(query: Query, features: tuple[str, ...]) -> pd.Series:
    return explore.mutual_information(rows(query), features)


@st.cache_data(max_entries=16, show_spinner="Projecting…")
def pca(query: Query, features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    return explore.pca_projection(rows(query), features)


@st.cache_data(max_entries=16)
def correlation(query: Query, features: tuple[str, ...]) -> pd.DataFrame:
    return explore.correlation(rows(query), features)


@st.cache_data(max_entries=16, show_spinner="Scoring tracks…")
def outliers(query: Query, features: tuple[str, ...], top: int) -> pd.DataFrame:
    """The ``top`` rows farthest from their genre (relative to the nearest other genre)."""
    return explore.genre_outliers(rows(query), features).head(top)


@st.cache_data(max_entries=16)
def genre_stats(query: Query, features: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-genre mean and standard deviation of every feature (for "what is unusual about this track")."""
    grouped = rows(query).groupby("label")[list(features)]
    return grouped.mean(), grouped.std(ddof=0)

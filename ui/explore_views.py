"""Plotly figures for the Explore page (pure: DataFrames in, figures out; one trace per genre)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.data.explore import readable_name
from core.display import genre_name
from core.features.schema import FeatureSchema, genre_order
from ui.charts import genre_color, style

HISTOGRAM_BINS = 40


def _by_genre(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    groups = dict(tuple(df.groupby("label", sort=False)))
    return [(genre, groups[genre]) for genre in genre_order(list(groups))]


def distribution(df: pd.DataFrame, column: str, kind: str, schema: FeatureSchema) -> go.Figure:
    """One feature by genre as violins, boxes or overlaid histograms."""
    name = readable_name(schema, column)
    fig = go.Figure()
    low, high = float(df[column].min()), float(df[column].max())
    bins = dict(start=low, end=high, size=(high - low) / HISTOGRAM_BINS or 1.0)  # the same bins for every genre
    for genre, rows in _by_genre(df):
        color = genre_color(genre)
        values = rows[column].to_numpy()
        if kind == "Histogram":  # share of each genre's rows, so a genre with few tracks is as visible
            fig.add_trace(go.Histogram(x=values, name=genre_name(genre), marker_color=color, opacity=0.5, xbins=bins,
                                       histnorm="percent"))
        elif kind == "Box":
            fig.add_trace(go.Box(y=values, name=genre_name(genre), marker_color=color, boxpoints=False))
        else:
            fig.add_trace(go.Violin(y=values, name=genre_name(genre), line_color=color, box_visible=True, points=False,
                                    meanline_visible=True))
    if kind == "Histogram":
        fig.update_layout(barmode="overlay")
        fig.update_xaxes(title=name)
        fig.update_yaxes(title="% of the genre's rows")
    else:
        fig.update_yaxes(title=name)
    return style(fig, height=460, legend=kind == "Histogram")


def _points(df: pd.DataFrame, x: np.ndarray, y: np.ndarray, x_title: str, y_title: str) -> go.Figure:
    """WebGL scatter, one colour per genre; hover names the track; each point carries its table row."""
    fig = go.Figure()
    positions = pd.Series(np.arange(len(df)), index=df.index)
    hover = f"<b>%{{hovertext}}</b> (%{{fullData.name}})<br>{x_title}: %{{x:.4g}}<br>{y_title}: %{{y:.4g}}<extra></extra>"
    for genre, rows in _by_genre(df):
        at = positions[rows.index].to_numpy()
        fig.add_trace(go.Scattergl(
            x=x[at], y=y[at], mode="markers", name=genre_name(genre), customdata=rows.index.to_numpy()[:, None],
            hovertext=rows["track_id"].to_numpy(), hovertemplate=hover,
            marker=dict(size=7, color=genre_color(genre), opacity=0.75)))
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title)
    return style(fig, height=560)


def scatter(df: pd.DataFrame, x: str, y: str, schema: FeatureSchema) -> go.Figure:
    """Two features against each other."""
    return _points(df, df[x].to_numpy(), df[y].to_numpy(), readable_name(schema, x), readable_name(schema, y))


def projection(df: pd.DataFrame, coords: np.ndarray, ratio: np.ndarray) -> go.Figure:
    """The 2-D PCA map of all features (``coords`` row-aligned with ``df``)."""
    return _points(df, coords[:, 0], coords[:, 1], f"PC 1 ({ratio[0]:.0%} of the variation)",
                   f"PC 2 ({ratio[1]:.0%} of the variation)")


def correlation_map(corr: pd.DataFrame, schema: FeatureSchema) -> go.Figure:
    """Feature-by-feature Pearson correlation as a heatmap."""
    names = [readable_name(schema, c) for c in corr.columns]
    fig = go.Figure(go.Heatmap(z=corr.to_numpy(), x=names, y=names, zmin=-1, zmax=1, zmid=0,
                               colorscale="RdBu_r", colorbar=dict(title="r"),
                               hovertemplate="%{y}<br>%{x}<br>r = %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=10))
    fig.update_xaxes(tickangle=-60, tickfont=dict(size=10))
    return style(fig, height=min(1100, 260 + 13 * len(names)), legend=False)


def ranking(table: pd.DataFrame, schema: FeatureSchema, top: int = 15) -> go.Figure:
    """The ``top`` features by ANOVA F as horizontal bars (best at the top)."""
    best = table.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=best["anova_f"], y=[readable_name(schema, c) for c in best["feature"]],
                           orientation="h", marker_color="#ff3d7f", customdata=best["p_value"],
                           hovertemplate="%{y}<br>F = %{x:.1f}<br>p = %{customdata:.1e}<extra></extra>"))
    fig.update_xaxes(title="ANOVA F (between-genre / within-genre variance)")
    return style(fig, height=120 + 28 * len(best), legend=False)

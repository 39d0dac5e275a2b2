"""Plotly figures for the Explore page (pure: DataFrames in, figures out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.explore import readable_name
from core.schema import FeatureSchema
from ui.charts import GENRE_COLORS, genre_order, style


def _points(df: pd.DataFrame, x: str, y: str, labels: dict[str, str]) -> go.Figure:
    """WebGL scatter coloured by genre; hover names the track; each point carries its table row ("row")."""
    fig = px.scatter(df, x=x, y=y, render_mode="webgl", opacity=0.75, custom_data=["row"], hover_name="track_id",
                     color="label", color_discrete_map=GENRE_COLORS, category_orders={"label": genre_order(df["label"])},
                     labels={"label": "genre", **labels})
    fig.update_traces(marker=dict(size=7))
    return style(fig, height=560)


def distribution(df: pd.DataFrame, column: str, kind: str, schema: FeatureSchema) -> go.Figure:
    """One feature by genre as violins, boxes or overlaid histograms."""
    name = readable_name(schema, column)
    order = {"label": genre_order(df["label"])}
    common = dict(color="label", color_discrete_map=GENRE_COLORS, category_orders=order,
                  labels={"label": "genre", column: name})
    if kind == "Histogram":
        fig = px.histogram(df, x=column, barmode="overlay", opacity=0.55, nbins=60, **common)
        fig.update_yaxes(title="rows")
    elif kind == "Box":
        fig = px.box(df, x="label", y=column, points=False, **common)
    else:
        fig = px.violin(df, x="label", y=column, box=True, points=False, **common)
    fig.update_xaxes(title="" if kind != "Histogram" else name)
    return style(fig, height=460, legend=kind == "Histogram")


def scatter(df: pd.DataFrame, x: str, y: str, schema: FeatureSchema) -> go.Figure:
    """Two features against each other, one colour per genre (WebGL)."""
    return _points(df.assign(row=df.index), x, y, {x: readable_name(schema, x), y: readable_name(schema, y)})


def projection(df: pd.DataFrame, coords: np.ndarray, ratio: np.ndarray) -> go.Figure:
    """The 2-D PCA map of all features, one colour per genre (WebGL)."""
    frame = df[["track_id", "label"]].assign(row=df.index, pc1=coords[:, 0], pc2=coords[:, 1])
    return _points(frame, "pc1", "pc2", {"pc1": f"PC 1 ({ratio[0]:.0%} of the variation)",
                                         "pc2": f"PC 2 ({ratio[1]:.0%} of the variation)"})


def correlation_map(corr: pd.DataFrame, schema: FeatureSchema) -> go.Figure:
    """Feature-by-feature Pearson correlation as a heatmap."""
    names = [readable_name(schema, c) for c in corr.columns]
    fig = go.Figure(go.Heatmap(z=corr.to_numpy(), x=names, y=names, zmin=-1, zmax=1, zmid=0,
                               colorscale="RdBu_r", colorbar=dict(title="r"),
                               hovertemplate="%{y}<br>%{x}<br>r = %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    side = min(1100, 260 + 13 * len(names))
    return style(fig, height=side, legend=False).update_layout(xaxis=dict(tickangle=-60, tickfont=dict(size=10)),
                                                               yaxis=dict(tickfont=dict(size=10)))


def ranking(table: pd.DataFrame, schema: FeatureSchema, top: int = 15) -> go.Figure:
    """The ``top`` features by ANOVA F as horizontal bars (best at the top)."""
    best = table.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=best["anova_f"], y=[readable_name(schema, c) for c in best["feature"]],
                           orientation="h", marker_color="#ff3d7f",
                           customdata=best["mutual_info"],
                           hovertemplate="%{y}<br>F = %{x:.1f}<br>mutual information = %{customdata:.2f}<extra></extra>"))
    fig.update_xaxes(title="ANOVA F (between-genre / within-genre variance)")
    return style(fig, height=120 + 28 * len(best), legend=False)

"""Common chart styling: one colour per genre everywhere, compact margins, readable fonts."""

from __future__ import annotations

import colorsys
import zlib

import plotly.graph_objects as go

from core.features.schema import GENRES

# One fixed colour per genre so every chart (and page) agrees; bright enough for the dark theme.
GENRE_COLORS: dict[str, str] = dict(zip(GENRES, (
    "#4c9bff", "#ffd84d", "#ff8c42", "#ff4fd8", "#a66bff",
    "#2ed1c4", "#ff3b3b", "#ffb3cf", "#49d65a", "#d0d0d0",
)))


def genre_color(genre: str) -> str:
    """The genre's colour: GTZAN's ten fixed, any other genre (a model trained on FMA's or a user's own) a bright
    hue derived from its name, so it is the same on every page and in every run."""
    if genre in GENRE_COLORS:
        return GENRE_COLORS[genre]
    hue = zlib.crc32(genre.encode()) % 360 / 360
    r, g, b = colorsys.hls_to_rgb(hue, 0.62, 0.75)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def style(fig: go.Figure, height: int = 480, legend: bool = True) -> go.Figure:
    """Apply the app's layout defaults to a plotly figure and return it."""
    fig.update_layout(
        height=height, margin=dict(l=10, r=40, t=40, b=10), font=dict(size=14),
        modebar=dict(orientation="v"),  # the toolbar sits at the right edge, never over the legend
        legend=dict(title="", orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        showlegend=legend,
    )
    return fig

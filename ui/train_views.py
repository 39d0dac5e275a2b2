"""Figures and tables for the Train page (pure: epoch reports and reports in, figures and frames out)."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.display import genre_name
from core.models.evaluate import SEED_REPORTED
from core.models.train import EpochReport
from ui.charts import style
from ui.mode import source_label

TRAIN_COLOR, VALID_COLOR = "#ff3d7f", "#4c9bff"


def curves(epochs: Sequence[EpochReport], total: int, best_epoch: int | None = None) -> go.Figure:
    """Loss and accuracy per epoch, training and validation side by side; the x axis spans the whole run."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"), horizontal_spacing=0.08)
    x = [e.epoch for e in epochs]
    for col, (train_key, val_key) in enumerate((("loss", "val_loss"), ("accuracy", "val_accuracy")), start=1):
        for key, name, color in ((train_key, "training", TRAIN_COLOR), (val_key, "validation", VALID_COLOR)):
            y = [getattr(e, key) for e in epochs]
            if any(v is not None for v in y):
                fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines", line=dict(color=color, width=2),
                                         legendgroup=name, showlegend=col == 1,
                                         hovertemplate=f"epoch %{{x}}<br>{name} {train_key} %{{y:.3f}}<extra></extra>"),
                              row=1, col=col)
    shown = min(total, max(10, 2 * len(epochs)))  # the axis grows with the run, so early epochs are readable
    fig.update_xaxes(title="epoch", range=[0.5, max(shown, 2) + 0.5])
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    if best_epoch:
        fig.add_vline(x=best_epoch, line=dict(color="#ffd84d", dash="dot"), annotation_text="kept",
                      annotation_position="top left")
    return style(fig, height=380)


def confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], what: str) -> go.Figure:
    """Confusion matrix heatmap: rows the true genre, columns the predicted one; cells coloured by row share."""
    names = [genre_name(g) for g in classes]
    counts = pd.DataFrame(matrix, index=names, columns=names)
    share = counts.div(counts.sum(axis=1).where(lambda s: s > 0), axis=0).fillna(0)
    fig = go.Figure(go.Heatmap(z=share.to_numpy(), x=names, y=names, zmin=0, zmax=1,
                               colorscale=[[0, "#1c1f27"], [1, "#ff3d7f"]], colorbar=dict(title="share"),
                               text=counts.to_numpy(), texttemplate="%{text}",
                               hovertemplate=f"true %{{y}}<br>predicted %{{x}}<br>%{{text}} {what} "
                                             "(%{z:.0%} of the row)<extra></extra>"))
    fig.update_xaxes(title="predicted", side="bottom")
    fig.update_yaxes(title="true genre", autorange="reversed")
    return style(fig, height=140 + 36 * len(classes), legend=False)


def per_genre(metrics: dict[str, Any]) -> pd.DataFrame:
    """Precision, recall, F1 and support per genre, with the seed's reported number where it gave one."""
    frame = pd.DataFrame.from_dict(metrics["per_genre"], orient="index")
    frame.insert(len(frame.columns), "seed reported", [SEED_REPORTED["per_genre"].get(g) for g in frame.index])
    return frame.rename(index=genre_name).rename_axis("genre").reset_index()


def comparison(own: dict[str, Any], entries: list[dict[str, Any]]) -> pd.DataFrame:
    """This run next to the registry models, all scored on the same test rows."""
    rows = [{"model": "this run (not saved yet)", **own}]
    for e in entries:
        trained = f"trained on {source_label(e['trained_on']) or 'unknown data'}"
        note = (f"not compared: {e['skipped']}" if e.get("skipped") else
                f"track accuracy from {e['scored_on']}; {trained}" if e.get("scored_on") else trained)
        rows.append({"model": e["name"], "row_accuracy": e.get("row_accuracy"),
                     "track_accuracy": e.get("track_accuracy"), "note": note})
    return pd.DataFrame(rows)


def duration(seconds: float | None) -> str:
    """12 s, 3 min 05 s, 1 h 02 min."""
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"

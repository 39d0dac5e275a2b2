"""Figures and tables for the Train page (pure: epoch reports and reports in, figures and frames out)."""

from __future__ import annotations

from typing import Any, Sequence

import altair as alt
import pandas as pd
import plotly.graph_objects as go

from core.display import genre_name
from core.models.evaluate import SEED_REPORTED
from core.models.train import EpochReport, StageReport
from ui.charts import style
from ui.mode import source_label

TRAIN_COLOR, VALID_COLOR = "#ff3d7f", "#4c9bff"


METRICS = ("loss", "accuracy")  # the two live panels, side by side


def curve(epochs: Sequence[EpochReport], total: int, metric: str, best_epoch: int | None = None) -> alt.TopLevelMixin:
    """``metric`` ("loss" or "accuracy") per epoch, training and validation; the x axis spans the whole run.

    Vega-Lite, not Plotly: Streamlit names a Plotly chart by its content, so each new epoch mounted a new chart
    and on a busy machine the curves fell behind the progress line; this one is updated in place. Its
    description (the chart's accessible name) says how many epochs it draws."""
    keys = {"loss": ("loss", "val_loss"), "accuracy": ("accuracy", "val_accuracy")}[metric]
    rows = [{"epoch": e.epoch, "split": split, "value": getattr(e, key)} for e in epochs
            for split, key in zip(("training", "validation"), keys) if getattr(e, key) is not None]
    data = pd.DataFrame(rows, columns=["epoch", "split", "value"])
    shown = min(total, max(10, 2 * len(epochs)))  # the axis grows with the run, so early epochs are readable
    x = alt.X("epoch:Q", title="epoch", scale=alt.Scale(domain=[0.5, max(shown, 2) + 0.5], nice=False),
              axis=alt.Axis(format="d", tickMinStep=1))
    y = alt.Y("value:Q", title=metric, scale=alt.Scale(domain=[0, 1.02]) if metric == "accuracy" else alt.Scale(zero=True))
    color = alt.Color("split:N", scale=alt.Scale(domain=["training", "validation"], range=[TRAIN_COLOR, VALID_COLOR]),
                      legend=alt.Legend(title=None, orient="top"))
    layers: list[alt.Chart] = [alt.Chart(data).mark_line(strokeWidth=2, clip=True).encode(
        x, y, color, tooltip=["epoch:Q", "split:N", alt.Tooltip("value:Q", format=".3f", title=metric)])]
    if best_epoch:
        kept = pd.DataFrame({"epoch": [best_epoch], "label": ["kept"]})
        layers += [alt.Chart(kept).mark_rule(color="#ffd84d", strokeDash=[3, 3]).encode(x=alt.X("epoch:Q")),
                   alt.Chart(kept).mark_text(color="#ffd84d", align="left", dx=4, dy=4, baseline="top").encode(
                       x=alt.X("epoch:Q"), y=alt.value(0), text="label:N")]
    last = epochs[-1].epoch if epochs else 0
    return alt.layer(*layers).properties(
        title=metric.capitalize(), height=320,
        description=f"{metric.capitalize()} curves of epochs 1 to {last}" if last else f"{metric.capitalize()}: no epoch yet")


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


STAGE_NAMES = {"patches": ("Patch features", "tracks"), "augmented": ("Patch features of the augmented copies", "tracks"),
               "folds": ("Held-out folds", "settings"), "honesty": ("Calibration on held-out tracks", "steps"),
               "music": ("Not-music detector", "steps"), "final": ("Final fit", "steps"),
               "decode": ("Seed features, spectrograms and musicnn patches", "tracks"),
               "embeddings": ("VGG embeddings of the patches", "batches"),
               "seed_mlp": ("Training seed_mlp", "epochs"), "mel_cnn": ("Training mel_cnn", "epochs"),
               "vgg_transfer": ("Training vgg_transfer", "epochs")}


def stage_line(stage: StageReport) -> tuple[float, str]:
    """(fraction done, "Patch features: 7 of 12 tracks") of a stage report."""
    name, unit = STAGE_NAMES.get(stage.stage, (stage.stage.capitalize(), "steps"))
    return min(stage.done / stage.total, 1.0) if stage.total else 0.0, f"{name}: {stage.done} of {stage.total} {unit}"


def current_network(epochs: Sequence[EpochReport], stage: StageReport | None) -> list[EpochReport]:
    """The epochs of the network trained last (an ensemble trains one after the other, each from epoch 1): the
    reports since the last epoch 1, none while ``stage`` (that network's, when it is the latest) is at 0 epochs."""
    if stage is not None and stage.done == 0:
        return []
    starts = [i for i, e in enumerate(epochs) if e.epoch == 1]
    return list(epochs[starts[-1]:]) if starts else list(epochs)


def fold_curve(stages: Sequence[StageReport], metric: str) -> alt.TopLevelMixin:
    """Held-out ``metric`` ("balanced_log_loss" or "balanced_accuracy") of each regularisation strength C tried so
    far (the folds stage's scores); its description says how many settings it draws."""
    points = pd.DataFrame([s.scores for s in stages if s.stage == "folds" and s.scores], columns=["c", metric])
    title = metric.replace("_", " ").capitalize() + " on held-out tracks"
    y = alt.Y(f"{metric}:Q", title=None, scale=alt.Scale(domain=[0, 1.02]) if "accuracy" in metric else alt.Scale(zero=True))
    chart = alt.Chart(points).mark_line(point=True, strokeWidth=2, color=VALID_COLOR).encode(
        alt.X("c:Q", title="C (inverse L2 strength)", scale=alt.Scale(type="log")), y,
        tooltip=[alt.Tooltip("c:Q", title="C"), alt.Tooltip(f"{metric}:Q", format=".3f")])
    return alt.layer(chart).properties(title=title, height=280, description=f"{title} of {len(points)} settings")

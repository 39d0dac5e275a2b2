"""Figures and formatted text for the Classify page (pure: a Classification in, figures or strings out)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import plotly.colors as px_colors
import plotly.graph_objects as go

from core.data.explore import readable_name
from core.display import feature_by_genre, genre_name, mel_band_hz, waveform_envelope
from core.models.explain import Reason
from core.models.model_card import Dataset, ModelCard
from core.models.model_inputs import INPUT_NAMES
from core.models.neighbours import Neighbour, Novelty
from core.models.tag_evidence import TagReason
from core.predict import Classification, Evidence, Progress
from core.predict_batch import summary_columns
from core.verdict import NOT_MUSIC, Verdict, verdict
from ui.charts import genre_color, style
from ui.mode import source_label
from ui.plain import plain

ACCENT = "#ff3d7f"
MUTED = "#5b6070"
TIME_AXIS = dict(title="time (s)", ticksuffix=" s", showgrid=False, zeroline=False)
# Magma, except its first stop "#000004": Streamlit's plotly theme uses "#000001".."#00000n" as placeholders
# for its own palette and would paint the quietest cells in an accent colour.
SPECTROGRAM_COLORS = [[i / (len(c) - 1), "#010005" if v == "#000004" else v] for c in [px_colors.sequential.Magma]
                      for i, v in enumerate(c)]


def time_axis(result: Classification) -> dict[str, Any]:
    """The shared x axis of the timeline, waveform and spectrogram: the analysed part in source seconds."""
    start = result.audio.offset_s
    return dict(TIME_AXIS, range=[start, start + result.audio.duration_s])


def number(v: float) -> str:
    """A feature value for people: thousands separated, small values with 3 significant digits."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def percent(p: float) -> str:
    return f"{p:.0%}" if p >= 0.01 else "<1%"


def verdict_html(result: Classification, label: str | None = None) -> str:
    """The verdict card: the genre in large type when the model is sure (:meth:`Classification.verdict`, with
    the model's fitted threshold), else the pair, shortlist or "unlike the genres it knows" in words;
    confidence, runner-up and (for dataset examples) the label. A recording the model's music detector hears
    as not music gets :func:`not_music_html` instead."""
    if result.is_music is False:
        return not_music_html(result)
    return _verdict_card(result.probabilities, result.classes, result.verdict(genre_name), label)


def not_music_html(result: Classification) -> str:
    """The card shown instead of a genre when the model's music detector hears no music."""
    windows = result.segment_music if result.segment_music is not None else np.zeros(1, bool)
    n, music = len(windows), int(windows.sum())
    detail = (f"{music} of its {n} windows sound like music" if music else
              f"none of its {n} windows sounds like music" if n > 1 else "its one window does not sound like music")
    return (f'<div class="cp-verdict" data-genre="" style="border-color:{MUTED}">'
            '<div class="cp-kicker">Not music?</div>'
            f'<div class="cp-genre cp-unsure" style="color:#c9ccd6">{html.escape(NOT_MUSIC)}</div>'
            f'<div class="cp-confidence">It sounds more like speech, noise or other sounds: {detail}.</div></div>')


def partial_verdict_html(classes: tuple[str, ...], progress: Progress) -> str:
    """The verdict of the part classified so far, dimmed, while the rest of the song is analysed."""
    said = verdict(progress.probabilities, classes, genre_name)
    return _verdict_card(progress.probabilities, classes, said, so_far=f"So far (the first {progress.fraction:.0%} "
                         "of the song): ", extra_class=" cp-partial")


def progress_text(name: str, progress: Progress) -> str:
    """One line for the progress bar: what is happening to ``name`` (shown as text) and, once known, the time left."""
    name = plain(name)
    if progress.stage == "decoding":
        return f"Decoding {name}…"
    if progress.stage == "finishing":
        return f"{name}: drawing the pictures and the explanation…"
    left = progress.remaining_s()
    eta = f" · about {max(1, round(left))} s left" if left is not None else ""
    return f"Listening to {name}: {progress.windows_done} of {progress.windows} windows{eta}"


def _verdict_card(probabilities: np.ndarray, classes: tuple[str, ...], said: Verdict, label: str | None = None,
                  so_far: str = "", extra_class: str = "") -> str:
    order = np.argsort(-np.asarray(probabilities), kind="stable")
    top = [(classes[i], float(probabilities[i])) for i in order]
    (genre, p), *rest = top[:3]
    known = ""
    if label is not None:
        mark = "✓ matches" if label == genre else "✗ differs from"
        known = f'<div class="cp-known">{mark} the dataset label: <b>{html.escape(genre_name(label))}</b></div>'
    if said.sure:
        runner = f" · then {html.escape(genre_name(rest[0][0]))} {percent(rest[0][1])}" if rest else ""
        kicker, headline, css = "Sounds like", html.escape(said.text), "cp-genre"
        detail = f"<b>{percent(p)}</b> confident{runner}"
    else:
        kicker, headline, css = "Not a clear call", html.escape(said.text[0].upper() + said.text[1:]), "cp-genre cp-unsure"
        named = [html.escape(genre_name(g)) for g in said.genres]
        if len(named) > 1 and said.probability is not None:  # the chance of the sentence, not of its first genre
            detail = f"<b>{percent(said.probability)}</b> likely " + ", ".join(named[:-1]) + f" or {named[-1]}"
        else:
            detail = " · ".join(f"{html.escape(genre_name(g))} <b>{percent(q)}</b>" for g, q in top[:len(said.genres)])
    return (
        f'<div class="cp-verdict{extra_class}" data-genre="{html.escape(genre_name(genre))}" '
        f'style="border-color:{genre_color(genre)}">'
        f'<div class="cp-kicker">{html.escape(so_far)}{kicker}</div>'
        f'<div class="{css}" style="color:{genre_color(genre)}">{headline}</div>'
        f'<div class="cp-confidence">{detail}</div>{known}</div>'
    )


VERDICT_CSS = """<style>
.cp-verdict {border-left: 8px solid; border-radius: 10px; padding: 0.9rem 1.3rem; background: #1c1f27;}
.cp-kicker {text-transform: uppercase; letter-spacing: 0.12em; font-size: 0.85rem; opacity: 0.7;}
.cp-genre {font-size: 4.2rem; font-weight: 800; line-height: 1.05; margin: 0.1rem 0 0.3rem;}
.cp-unsure {font-size: 2.2rem;}
.cp-confidence {font-size: 1.35rem;}
.cp-known {font-size: 1rem; margin-top: 0.4rem; opacity: 0.85;}
.cp-partial {opacity: 0.6;}
.cp-bars {display: grid; grid-template-columns: 6.5rem 1fr 3.2rem; gap: 0.55rem 0.8rem; align-items: center;}
.cp-bar-name {text-align: right; font-size: 1.05rem;}
.cp-bar-track {background: #262a35; border-radius: 4px; height: 1.5rem;}
.cp-bar {height: 100%; border-radius: 4px; min-width: 2px;}
.cp-bar-pct {font-variant-numeric: tabular-nums; opacity: 0.9;}
</style>"""


def probability_bars_html(result: Classification, k: int = 5) -> str:
    """The ``k`` most likely genres as coloured bars (plain HTML: drawn instantly, no chart library)."""
    rows = "".join(
        f'<div class="cp-bar-name">{html.escape(genre_name(g))}</div>'
        f'<div class="cp-bar-track"><div class="cp-bar" style="width:{100 * p:.1f}%;background:{genre_color(g)}"></div></div>'
        f'<div class="cp-bar-pct">{percent(p)}</div>'
        for g, p in result.top(k))
    return f'<div class="cp-bars">{rows}</div>'


def timeline(result: Classification) -> go.Figure:
    """Genre probabilities of each 3-s segment across the analysed part, stacked (likeliest genre at the bottom)."""
    starts, seconds = result.segment_starts, result.segment_seconds
    probs = result.segment_probabilities
    # Each window is drawn at its centre; the first and last are held out to the analysed part's edges.
    x = np.concatenate([starts[:1], starts + seconds / 2, starts[-1:] + seconds])
    probs = np.vstack([probs[:1], probs, probs[-1:]])
    fig = go.Figure()
    for genre, _ in result.top(len(result.classes)):
        i = result.classes.index(genre)
        fig.add_trace(go.Scatter(
            x=x, y=probs[:, i], name=genre_name(genre), stackgroup="genres", mode="lines",
            line=dict(width=0.5, color=genre_color(genre)), fillcolor=genre_color(genre),
            hovertemplate=f"{genre_name(genre)}: %{{y:.0%}}<extra></extra>"))
    if result.segment_music is not None:  # windows that do not sound like music, greyed out and named
        for start in result.segment_starts[~result.segment_music]:
            fig.add_vrect(x0=start, x1=start + seconds, fillcolor="#2b2f3a", opacity=0.85, layer="above",
                          line_width=0, annotation_text="not music", annotation_position="top left",
                          annotation_font=dict(size=11, color="#c9ccd6"))
    fig.update_xaxes(**time_axis(result))
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title="probability", showgrid=False)
    return style(fig, height=340).update_layout(hovermode="x unified", legend_traceorder="normal")


def timeline_caption(result: Classification) -> str:
    """What the timeline shows: every window side by side, or the ones the analysis limit spread over the song."""
    n, seconds = len(result.segment_starts), f"{result.segment_seconds:g}-s"
    music = result.segment_music
    note = ("" if music is None or music.all() else
            (" Grey: the window that does not sound like music (speech, noise, silence, ...)" if (~music).sum() == 1 else
             f" Grey: the {int((~music).sum())} windows that do not sound like music (speech, noise, silence, ...)")
            + ("; the verdict reads only the others." if music.any() else "."))
    if n == result.windows:
        return (f"Each {seconds} window of the analysed part classified on its own (windows side by side, as the "
                "model's accuracy was measured). A song that changes style shows it here." + note)
    return (f"{n} {seconds} windows spread evenly over the analysed part (of the {result.windows} that fit side by "
            "side), each classified on its own; the verdict is their mean. This analysis limit keeps long songs "
            "quick; `python -m core predict` applies the same one (`--max-windows`)." + note)


def waveform(result: Classification) -> go.Figure:
    """The analysed audio's envelope (per-column minimum and maximum)."""
    audio = result.audio
    times, low, high = waveform_envelope(audio.y, audio.sr, audio.offset_s)
    fig = go.Figure([
        go.Scatter(x=times, y=low, mode="lines", line=dict(width=0, color=ACCENT), hoverinfo="skip"),
        go.Scatter(x=times, y=high, mode="lines", line=dict(width=0.6, color=ACCENT), fill="tonexty",
                   fillcolor="rgba(255,61,127,0.55)", hoverinfo="skip"),
    ])
    peak = max(float(np.abs(low).max()), float(np.abs(high).max()), 1e-3)
    fig.update_xaxes(**time_axis(result))
    fig.update_yaxes(range=[-peak * 1.05, peak * 1.05], title="amplitude", showgrid=False, zeroline=False)
    return style(fig, height=300, legend=False)


def spectrogram(result: Classification) -> go.Figure:
    """The log-mel spectrogram (dB, rounded to whole dB to shrink the page) with frequencies labelled in Hz."""
    spec = result.spectrogram
    hz = mel_band_hz(spec.db.shape[0], spec.fmax_hz)
    marks = [f for f in (100, 250, 500, 1000, 2000, 4000, 8000) if f < spec.fmax_hz]
    fig = go.Figure(go.Heatmap(
        z=np.round(spec.db).astype(np.int16), x=spec.times + spec.seconds_per_column / 2, y=np.arange(len(hz)), colorscale=SPECTROGRAM_COLORS,
        colorbar=dict(title="dB", thickness=12), hovertemplate="%{x:.1f} s<br>%{z:.0f} dB<extra></extra>"))
    fig.update_xaxes(**time_axis(result))
    fig.update_yaxes(title="frequency", tickvals=[int(np.argmin(np.abs(hz - f))) for f in marks],
                     ticktext=[f"{f / 1000:g} kHz" if f >= 1000 else f"{f} Hz" for f in marks])
    return style(fig, height=340, legend=False)


def evidence_panel(result: Classification, e: Evidence, title: str) -> dict[str, Any]:
    """One feature: every genre's training distribution as a box (middle half, median) and the clip's value
    as a dotted white line; the predicted genre and the runner-up in their colours.

    One small figure per feature, so that the page's columns can stack them on a phone. A plain plotly
    dict: ``st.plotly_chart`` validates it once (graph objects would validate every box again).
    """
    genre, runner_up = e.genre, e.runner_up
    order = [genre, runner_up] + [g for g in result.classes if g not in (genre, runner_up)]
    stats = feature_by_genre(result.feature_stats, e.feature).reindex(order).dropna()
    traces: list[dict[str, Any]] = []
    for group, tint in ((stats.index[2:], MUTED), ([runner_up], genre_color(runner_up)), ([genre], genre_color(genre))):
        part = stats.loc[[g for g in group if g in stats.index]]
        if part.empty:
            continue
        q1, median, q3 = (part[c].to_numpy().tolist() for c in ("q25", "median", "q75"))
        traces.append(dict(
            type="box", orientation="h", y=[genre_name(g) for g in part.index], q1=q1, median=median, q3=q3,
            lowerfence=q1, upperfence=q3, marker=dict(color=tint), line=dict(width=1.5),
            fillcolor=tint if tint != MUTED else "rgba(91,96,112,0.5)", showlegend=False,
            hovertemplate="%{y}<br>middle half: %{q1:.3g} – %{q3:.3g}<br>median %{median:.3g}<extra></extra>"))
    low, high = min(stats["q25"].min(), e.value), max(stats["q75"].max(), e.value)
    pad = 0.08 * (high - low) or 0.1 * abs(e.value) or 1.0
    return dict(data=traces, layout=dict(
        title=dict(text=title, font=dict(size=14), x=0.5, xanchor="center"), height=330, showlegend=False,
        font=dict(size=13), margin=dict(l=10, r=10, t=60, b=10),
        xaxis=dict(range=[low - pad, high + pad], showgrid=False, nticks=5, tickfont=dict(size=11)),
        yaxis=dict(categoryorder="array", categoryarray=[genre_name(g) for g in order[::-1]], tickfont=dict(size=11)),
        shapes=[dict(type="line", xref="x", yref="y domain", x0=e.value, x1=e.value, y0=0, y1=1,
                     line=dict(color="white", width=2, dash="dot"))]))


def panel_title(result: Classification, e: Evidence, reason: Reason | None = None) -> str:
    """A panel's title: the feature, the clip's value and (for a measured reason) the effect."""
    name = readable_name(result.schema, e.feature)
    sub = f"this clip: {number(e.value)}"
    if reason is not None:
        sub += f" · without it {percent(reason.without)}"
    return f"{name}<br><sup>{sub}</sup>"


def _closeness(z: float) -> str:
    z = abs(z)
    return "typical of" if z < 1 else "a little unusual for" if z < 2 else "unusual for"


def evidence_lines(evidence: list[Evidence], schema) -> list[str]:
    """One markdown sentence per feature: the clip's value and how typical it is of each of the two genres."""
    return [
        f"**{readable_name(schema, e.feature)}** = {number(e.value)}: {_closeness(e.z_genre)} "
        f"{genre_name(e.genre)} (median {number(e.median_genre)}), {_closeness(e.z_runner_up)} "
        f"{genre_name(e.runner_up)} (median {number(e.median_runner_up)})."
        for e in evidence
    ]


def closest_heading(novelty: Novelty) -> str:
    """What the closest training songs are, and whether this recording is unlike all of them."""
    head = "The training songs closest to this one, in the tags the model reads"
    return head + (" (none is close: it is unlike the genres the model knows)" if novelty.novel else "")


def neighbour_line(neighbour: Neighbour) -> str:
    """One closest training song in markdown: its name and genre."""
    return f"{html.escape(neighbour.track_id.rsplit('/', 1)[-1])} · **{html.escape(genre_name(neighbour.label))}**"


def tag_chart(tags: list[TagReason], genre: str, runner_up: str) -> go.Figure:
    """The tags behind a verdict: each one's share of the lead over the runner-up, largest on top."""
    labels = [f"{t.tag}" if t.above_usual else f"not {t.tag}" for t in tags][::-1]
    fig = go.Figure(go.Bar(x=[t.share for t in tags][::-1], y=labels, orientation="h", marker_color=ACCENT,
                           hovertemplate="%{y}: +%{x:.2f}<extra></extra>"))
    style(fig, height=90 + 34 * len(tags), legend=False)
    fig.update_layout(title=dict(text=f"Tags that make it {genre} rather than {runner_up}", font=dict(size=15)),
                      xaxis_title="share of the lead (logit units)", margin=dict(l=10, r=40, t=40, b=40))
    return fig


def tag_lines(tags: list[TagReason], genre: str, runner_up: str) -> list[str]:
    """The tags behind a verdict in words."""
    return [(f"it sounds **{t.tag}** ({percent(t.probability)} to the tagger)" if t.above_usual
             else f"it does **not** sound **{t.tag}** ({percent(t.probability)} to the tagger)")
            + f": +{t.share:.2f} towards {genre} over {runner_up}" for t in tags]


def reason_lines(reasons: list[Reason], evidence: list[Evidence], schema) -> list[str]:
    """One markdown sentence per measured reason: its effect on the verdict, then the two genres' medians."""
    return [
        f"**{readable_name(schema, r.feature)}** = {number(r.value)}: set to {number(r.neutral)} (the genres' "
        f"average), the model's confidence in {genre_name(e.genre)} falls from {percent(r.probability)} to "
        f"{percent(r.without)}. Medians: {genre_name(e.genre)} {number(e.median_genre)}, "
        f"{genre_name(e.runner_up)} {number(e.median_runner_up)}."
        for r, e in zip(reasons, evidence)
    ]


def model_facts(card: ModelCard) -> list[tuple[str, str]]:
    """What a visitor wants to know about a model, from its card: (label, value) pairs."""
    arch = card.architecture
    facts = [("Architecture", f"{arch.name} ({arch.parameters:,} parameters)"),
             ("Input", f"{_inputs(card)} of {'whole tracks' if card.level == 'track' else '3-s slices'}"),
             ("Trained on", _trained_on(card.dataset)),
             ("Created", card.created.replace("T", " ")[:16])]
    metrics = _headline_metrics(card.metrics.summary()) if card.metrics else []
    if metrics and card.protocol:
        facts.append(("Evaluated by", card.protocol.detail))
    facts += metrics
    check = card.realworld
    if check:
        facts.append(("Real-world check (music it never heard)",
                      f"{check['top1']:.1%} of {check['n']} modern songs right, {check['top3']:.1%} in the top 3"))
    calibration = card.reliability.get("calibration")
    if calibration:
        clean = calibration.get("held_out", {}).get("clean tracks", {})
        facts.append(("Confidence shown", "the chance that the verdict is right as worded, fitted on held-out GTZAN "
                      f"(one genre from {calibration['sure']:.0%}, two from {calibration['pair']:.0%}, else three)"
                      + (f"; right as worded {clean['right_as_worded']:.0%} of held-out tracks"
                         if "right_as_worded" in clean else "")))
    elif card.calibration:
        facts.append(("Probabilities", f"calibrated ({card.calibration.method})"))
    music = card.reliability.get("music", {}).get("rates")
    if music:
        facts.append(("Says \"not music\" (held out)",
                      f"for {music['nonmusic_clips_flagged']:.0%} of {music['nonmusic_clips']} generated non-music clips "
                      f"and {music['music_tracks_flagged']:.1%} of {music['music_tracks']} training songs"))
    history = card.training.history or {}
    best = history.get("best_epoch") or 0
    epochs = history.get("epochs", [])
    accuracy = epochs[best - 1].get("val_accuracy") if 0 < best <= len(epochs) else None
    if isinstance(accuracy, float):
        facts.append(("Validation accuracy (training)", f"{accuracy:.1%} at epoch {best}"))
    runs = card.inference or {}
    if runs.get("file"):  # an export (checked on onnxruntime by models saved before OpenVINO; runs on OpenVINO)
        facts.append(("Runs on", f"its inference export (ONNX, run by OpenVINO), whose probabilities equal the "
                                 f"Keras network's within {runs['max_abs_diff_probabilities']:.0e}"))
    else:
        facts.append(("Runs on", runs.get("note", "Keras: it has no inference export, so it is slower to load")))
    return facts


def _trained_on(dataset: Dataset) -> str:
    """Rows or tracks and where they came from (folder names only)."""
    names = ", ".join(f"`{source_label(s)}`" for s in dataset.sources)
    if dataset.rows is not None:
        return f"{dataset.rows:,} rows of {names}"
    return f"{dataset.tracks:,} tracks of {names}"


def _inputs(card: ModelCard) -> str:
    """What the network reads: feature-schema columns, a mel spectrogram, a pretrained embedding."""
    schema = f"{card.feature_schema.id} features"
    return " + ".join(schema if i == "features" else INPUT_NAMES.get(i, i) for i in card.inputs)


def _headline_metrics(summary: dict[str, float]) -> list[tuple[str, str]]:
    """The card's headline numbers (:meth:`core.models.model_card.Metrics.summary`) as labelled percentages."""
    return [(key.replace("_", " ").capitalize(), f"{value:.1%}") for key, value in summary.items()]


def shown_results(frame: pd.DataFrame) -> pd.DataFrame:
    """The results table as shown on the page: genre names written for people (the CSV keeps the labels)."""
    top3 = frame["top3"].fillna("").map(lambda text: ", ".join(
        f"{genre_name(g)} {p}" for g, p in (item.rsplit(" ", 1) for item in text.split(", ") if " " in item)))
    return frame.assign(genre=frame["genre"].map(lambda g: genre_name(g) if g else g), top3=top3)


def results_frame(names: list[str], rows: list[dict[str, Any]], classes: tuple[str, ...]) -> pd.DataFrame:
    """The many-files results table: ``file`` then :func:`core.predict_batch.summary_columns`."""
    return pd.DataFrame([{"file": n, **r} for n, r in zip(names, rows)], columns=["file", *summary_columns(classes)])

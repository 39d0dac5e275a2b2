"""Score a registered model on a labelled folder of audio: how it does on music it has never seen.

A manifest (TSV or CSV) names each file and its label: ``file`` (or ``path``), relative to the folder,
and ``label``. A label may list alternatives separated by ``|`` (``pop|rock``): a prediction of any
of them counts as right. Every file goes through :func:`core.predict.classify`, the same path as the
app and ``python -m core predict``; a file that cannot be analysed is reported and left out.

Reported (:func:`score`): top-1 and top-3 accuracy over all songs, over the single-label songs and per
label; balanced accuracy (mean per-genre recall of single-label songs); the confusion of labels and
predictions; the expected calibration error (:func:`expected_calibration_error`) of the top genre's
confidence shown (calibrated for models whose card has a calibration) and of the verdict as worded (the
chance shown with "rock", "somewhere between rock and metal" or a shortlist of three, against whether the
song's genre is among those named); how many verdicts are shown as sure and how many
of those are wrong; and how many songs are flagged unlike the genres the model knows. With a model that has a music detector
(:mod:`core.models.music_detector`), :func:`music_counts` adds how many songs it heard as not music; files
labelled :data:`NOT_MUSIC` measure the detector (how many of them it flags) and are left out of the genre
scores.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any, Callable

import numpy as np
import pandas as pd

from core import storage
from core.models.calibration import expected_calibration_error

ALTERNATIVES = "|"
NOT_MUSIC = "notmusic"  # the manifest label of a file that is not music


class ManifestError(ValueError):
    """A manifest that cannot be used; the message says what is wrong."""


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Columns ``file`` and ``label`` of a TSV/CSV manifest (``path`` is accepted for ``file``); local or a URL."""
    name = storage.name(path)
    try:
        with storage.open_input(path) as handle:
            frame = pd.read_csv(handle, sep=None, engine="python", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{name}: cannot read the manifest ({exc}).") from None
    frame = frame.rename(columns={"path": "file"})
    if not {"file", "label"} <= set(frame.columns):
        raise ManifestError(f"{name}: a manifest needs the columns file and label "
                            f"(found: {', '.join(frame.columns)}).")
    frame = frame[["file", "label"]]
    if frame.empty or (frame["label"].str.strip() == "").any():
        raise ManifestError(f"{name}: the manifest is empty or has rows without a label.")
    return frame.reset_index(drop=True)


def label_sets(labels: list[str] | pd.Series) -> list[frozenset[str]]:
    """Each label as the set of genres that count as right (``pop|rock`` -> {pop, rock})."""
    return [frozenset(p.strip() for p in str(label).split(ALTERNATIVES) if p.strip()) for label in labels]


def score(probabilities: np.ndarray, labels: list[str] | pd.Series, classes: tuple[str, ...] | list[str],
          sure: np.ndarray | None = None, novel: np.ndarray | None = None,
          worded: list[tuple[tuple[str, ...], float]] | None = None) -> dict[str, Any]:
    """Metrics of track probabilities ``(n, n_classes)`` against labels (alternatives allowed); with ``sure``
    (each verdict shown as sure) the share of sure verdicts and how many of them are wrong, with ``novel``
    (each song flagged unlike the genres the model knows) the share flagged, with ``worded`` (each verdict's
    genres and the chance shown with it) how often the verdict as worded is right, its calibration error and
    how many verdicts name one, two or three genres."""
    classes = tuple(classes)
    probabilities = np.asarray(probabilities, dtype=float)
    labels = [str(label) for label in labels]
    sets = label_sets(labels)
    unknown = sorted(set().union(*sets) - set(classes)) if sets else []
    if unknown:
        raise ManifestError(f"Labels the model does not know: {', '.join(unknown)} (known: {', '.join(classes)}).")
    order = np.argsort(-probabilities, axis=1, kind="stable")
    predicted = [classes[i] for i in order[:, 0]]
    top1 = np.array([p in s for p, s in zip(predicted, sets)])
    top3 = np.array([any(classes[i] in s for i in row[:3]) for row, s in zip(order, sets)])
    single = np.array([len(s) == 1 for s in sets])
    per_label: dict[str, dict[str, Any]] = {}
    for label in sorted(set(labels)):
        inside = np.array([lab == label for lab in labels])
        counts = pd.Series(np.asarray(predicted)[inside]).value_counts()
        per_label[label] = {"n": int(inside.sum()), "top1": float(top1[inside].mean()),
                            "top3": float(top3[inside].mean()), "predicted": {str(k): int(v) for k, v in counts.items()}}
    recalls = [per_label[g]["top1"] for g in classes if g in per_label]
    confidence = probabilities.max(axis=1)
    return {
        "n": len(labels),
        "top1": float(top1.mean()) if len(labels) else float("nan"),
        "top3": float(top3.mean()) if len(labels) else float("nan"),
        "single_label": {"n": int(single.sum()), "top1": float(top1[single].mean()) if single.any() else None,
                         "top3": float(top3[single].mean()) if single.any() else None},
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "per_label": per_label,
        "confusion": {label: v["predicted"] for label, v in per_label.items()},
        "ece": expected_calibration_error(confidence, top1),
        "mean_confidence": float(confidence.mean()) if len(labels) else float("nan"),
        **_shares(top1, sure, novel),
        **_as_worded(worded, sets),
    }


def _as_worded(worded: list[tuple[tuple[str, ...], float]] | None, sets: list[frozenset[str]]) -> dict[str, Any]:
    """The verdict as worded: right when the song's genre is among those it names; its ECE; how many name 1, 2, 3."""
    if worded is None or not sets:
        return {"right_as_worded": None, "ece_as_worded": None, "genres_named": None}
    right = np.array([bool(set(genres) & s) for (genres, _), s in zip(worded, sets)])
    named = pd.Series([len(genres) for genres, _ in worded]).value_counts()
    return {"right_as_worded": float(right.mean()),
            "ece_as_worded": expected_calibration_error(np.array([p for _, p in worded]), right),
            "genres_named": {str(k): int(named.get(k, 0)) for k in (1, 2, 3)}}


def _shares(correct: np.ndarray, sure: np.ndarray | None, novel: np.ndarray | None) -> dict[str, Any]:
    """Share of sure verdicts and of them wrong; share flagged novel (None where not known)."""
    out: dict[str, Any] = {"sure": None, "sure_wrong": None, "novel": None}
    if sure is not None and len(correct):
        sure = np.asarray(sure, dtype=bool)
        out["sure"] = float(sure.mean())
        out["sure_wrong"] = float((~correct[sure]).mean()) if sure.any() else None
    if novel is not None and len(correct):
        out["novel"] = float(np.asarray(novel, dtype=bool).mean())
    return out


Progress = Callable[[str], None]


def evaluate_audio(folder: str | os.PathLike, manifest: str | os.PathLike, model, *, progress: Progress | None = None) -> dict[str, Any]:
    """Classify every manifest file under ``folder`` with ``model`` (a :class:`core.models.registry.LoadedModel`)
    and :func:`score` the results; files that fail are listed under ``failed`` and left out."""
    from core.failures import failure_message
    from core.predict import classify

    folder = storage.location(folder)
    entries = read_manifest(manifest)
    rows, failed = [], []
    for file, label in entries.itertuples(index=False):
        try:
            result = classify(storage.resolve(folder, file), model)
        except Exception as exc:  # one song's failure, whatever it is, is that song's error (logged)
            failed.append({"file": file, "error": failure_message(exc, str(file))})
            continue
        said = result.verdict()
        rows.append({"file": file, "label": label, "predicted": result.genre, "verdict": said.text, "sure": said.sure,
                     "verdict_genres": "|".join(said.genres), "verdict_probability": said.probability,
                     "novel": None if result.novelty is None else result.novelty.novel, "music": result.is_music,
                     **{f"p_{c}": float(p) for c, p in zip(result.classes, result.probabilities)}})
        if progress is not None:
            progress(file)
    songs = [r for r in rows if r["label"] != NOT_MUSIC]
    table = pd.DataFrame(songs)
    probs = table[[f"p_{c}" for c in model.classes]].to_numpy() if songs else np.zeros((0, len(model.classes)))
    knows_novelty = bool(songs) and table["novel"].notna().all()
    report = score(probs, table["label"] if songs else [], model.classes,
                   sure=table["sure"].to_numpy(bool) if songs else None,
                   novel=table["novel"].to_numpy(bool) if knows_novelty else None,
                   worded=[(tuple(filter(None, g.split("|"))), float(np.nan_to_num(p)))  # not music: no genre, 0
                           for g, p in zip(table["verdict_genres"], table["verdict_probability"].astype(float))]
                   if songs else None)
    return {"model": model.name, "folder": storage.name(folder), "manifest": storage.name(manifest),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **report, "music": music_counts(rows), "failed": failed, "songs": rows}


def music_counts(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How the music detector heard the songs (rows with ``label`` and ``music``: True, False or None when the
    model has no detector): music songs flagged as not music, and files labelled :data:`NOT_MUSIC` flagged."""
    if not rows or any(r["music"] is None for r in rows):
        return None
    songs = [r for r in rows if r["label"] != NOT_MUSIC]
    others = [r for r in rows if r["label"] == NOT_MUSIC]
    flagged = [r["file"] for r in songs if not r["music"]]
    missed = [r["file"] for r in others if r["music"]]
    return {"songs": len(songs), "songs_flagged": len(flagged), "songs_flagged_rate": len(flagged) / len(songs) if songs else None,
            "flagged_files": flagged, "not_music": len(others), "not_music_flagged": len(others) - len(missed),
            "not_music_flagged_rate": (len(others) - len(missed)) / len(others) if others else None,
            "missed_files": missed}


def format_scores(report: dict[str, Any]) -> str:
    """A short readable summary of :func:`score`'s output."""
    single = report["single_label"]
    lines = [f"{report['n']} songs: top-1 {report['top1']:.1%}, top-3 {report['top3']:.1%}, "
             f"ECE {report['ece']:.3f}"] if report["n"] else []
    if report.get("right_as_worded") is not None:
        named = report["genres_named"]
        lines.append(f"verdict as worded ({named['1']} name one genre, {named['2']} two, {named['3']} three): right "
                     f"{report['right_as_worded']:.1%}, ECE {report['ece_as_worded']:.3f}")
    if report.get("sure") is not None:
        wrong = report["sure_wrong"]
        lines.append(f"shown as sure: {report['sure']:.1%} of songs, "
                     + ("none wrong" if wrong is None else f"{wrong:.1%} of them wrong")
                     + ("" if report.get("novel") is None else f"; unlike the genres it knows: {report['novel']:.1%}"))
    music = report.get("music")
    if music:
        if music["songs"]:
            lines.append(f"heard as not music: {music['songs_flagged']} of {music['songs']} songs"
                         + (f" ({', '.join(music['flagged_files'])})" if music["flagged_files"] else ""))
        if music["not_music"]:
            lines.append(f"files labelled {NOT_MUSIC}: {music['not_music_flagged']} of {music['not_music']} heard as not "
                         "music" + (f" (missed: {', '.join(music['missed_files'])})" if music["missed_files"] else ""))
    if single["n"]:
        lines.append(f"single-label songs ({single['n']}): top-1 {single['top1']:.1%}, top-3 {single['top3']:.1%}, "
                     f"balanced accuracy {report['balanced_accuracy']:.1%}")
    for label, v in report["per_label"].items():
        predicted = ", ".join(f"{g} {n}" for g, n in v["predicted"].items())
        lines.append(f"  {label:<12} n={v['n']:<4} top-1 {v['top1']:.1%}  top-3 {v['top3']:.1%}  predicted: {predicted}")
    return "\n".join(lines)

"""Classify audio with a registered model: one decode, one set of signals, every answer the UI needs.

:func:`classify` returns a :class:`Classification`: track probabilities and top-k, overlapping 3-s
segment probabilities (start times in the source's time), the whole-track feature row, the decoded
audio, a display-sized log-mel spectrogram, the model's measured reasons (:mod:`core.explain`) and
:meth:`Classification.describe`, which compares the clip's features with the per-genre statistics
stored in ``model.json`` (a description, not the model's reasons).
"""

from __future__ import annotations

import posixpath
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from core import storage
from core.audio import AnalysisLimit, Audio, Source, load_audio
from core.explain import Explanation, explain
from core.failures import failure_message
from core.features import HOP, compute_signals, extract_signals
from core.model_inputs import predict_segments
from core.registry import LoadedModel
from core.schema import FeatureSchema

HOP_SECONDS = 1.5
SPECTROGRAM_COLUMNS = 600


@dataclass(frozen=True)
class Spectrogram:
    """Log-mel power (dB), time-downsampled for display: ``db[mel, column]``."""

    db: np.ndarray
    start_s: float  # source time of the first column
    seconds_per_column: float
    fmax_hz: float

    @property
    def times(self) -> np.ndarray:
        return self.start_s + self.seconds_per_column * np.arange(self.db.shape[1])


@dataclass(frozen=True)
class Evidence:
    """How one feature of the clip compares with the predicted and the runner-up genre."""

    feature: str
    description: str
    value: float
    genre: str
    runner_up: str
    median_genre: float
    median_runner_up: float
    z_genre: float  # (value - mean) / std within the predicted genre's training rows
    z_runner_up: float

    @property
    def score(self) -> float:
        """Positive when the value is typical of the genre and atypical of the runner-up."""
        return abs(self.z_runner_up) - abs(self.z_genre)


@dataclass
class Classification:
    """Everything :func:`classify` found out about one recording."""

    model_name: str
    schema: FeatureSchema
    classes: tuple[str, ...]
    probabilities: np.ndarray  # (n_classes,) the track's verdict
    segment_starts: np.ndarray  # (n_segments,) seconds, source time
    segment_seconds: float
    segment_probabilities: np.ndarray  # (n_segments, n_classes)
    features: pd.Series  # whole-track feature row (schema columns)
    segment_features: np.ndarray  # (n_segments, n_features)
    level: str  # rows the model expects: 'slice' or 'track'
    audio: Audio
    spectrogram: Spectrogram
    feature_stats: dict  # model.json's per-genre statistics
    seconds: float  # time classify took
    explanation: Explanation | None = None  # the model's measured reasons (core.explain)

    @property
    def genre(self) -> str:
        return self.classes[int(np.argmax(self.probabilities))]

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most likely genres with their probabilities, best first."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(self.classes[i], float(self.probabilities[i])) for i in order]

    def segments(self) -> pd.DataFrame:
        """One row per segment: start_s, end_s, top genre and every genre's probability."""
        frame = pd.DataFrame(self.segment_probabilities, columns=list(self.classes))
        frame.insert(0, "genre", [self.classes[i] for i in self.segment_probabilities.argmax(axis=1)])
        frame.insert(0, "end_s", self.segment_starts + self.segment_seconds)
        frame.insert(0, "start_s", self.segment_starts)
        return frame

    def explained_row(self) -> pd.Series:
        """The row compared with the genre statistics: the whole-track row for track-level models,
        the mean of the segment rows for slice-level ones (their statistics describe 3-s windows)."""
        if self.level == "track" or not len(self.segment_features):
            return self.features
        return pd.Series(self.segment_features.mean(axis=0), index=self.features.index)

    def describe(self, k: int = 6, features: list[str] | None = None) -> list[Evidence]:
        """How the clip's ``features`` (default: the ``k`` that most set the predicted genre apart from the
        runner-up, each typical of the predicted genre) compare with the two genres' training statistics.

        A description of the clip, not the model's reasons (those are :attr:`explanation`); without
        ``features`` it never lists a feature that is unusual for the predicted genre."""
        genres = self.feature_stats.get("genres", {})
        (genre, _), (runner_up, _) = self.top(2) if len(self.classes) > 1 else (self.top(1) * 2)
        if genre not in genres or runner_up not in genres:
            return []
        row = self.explained_row()
        out = []
        for column in features or row.index:
            value = float(row[column])
            mean_g, std_g, _, med_g, _ = genres[genre][column]
            mean_r, std_r, _, med_r, _ = genres[runner_up][column]
            out.append(Evidence(column, self.schema.describe(column), value, genre, runner_up, med_g, med_r,
                                (value - mean_g) / (std_g or 1.0), (value - mean_r) / (std_r or 1.0)))
        if features:
            return out
        return sorted((e for e in out if abs(e.z_genre) < 1 and e.score > 0), key=lambda e: -e.score)[:k]


def _spectrogram(log_mel: np.ndarray, sr: int, hop: int, offset_s: float, columns: int) -> Spectrogram:
    step = max(1, int(np.ceil(log_mel.shape[1] / columns)))
    n = log_mel.shape[1] // step * step
    db = log_mel[:, :n].reshape(log_mel.shape[0], -1, step).mean(axis=2) if n else log_mel
    return Spectrogram(db.astype(np.float32), offset_s, step * hop / sr, sr / 2)


def classify(source: Source | Audio, model: LoadedModel, *, limit: AnalysisLimit = AnalysisLimit(),
             hop_seconds: float = HOP_SECONDS) -> Classification:
    """Classify ``source`` (a path, bytes, file object or an already decoded :class:`Audio`).

    Raises :class:`core.audio.AudioError` for input that cannot be analysed.
    """
    t0 = time.perf_counter()
    audio = source if isinstance(source, Audio) else load_audio(source, limit=limit)
    schema = model.schema
    segment_seconds = float(model.info.meta.get("segment_seconds", 3.0))
    signals = compute_signals(audio.y, audio.sr, schema.signals)
    extraction = extract_signals(signals, schema, slice_seconds=segment_seconds, hop_seconds=hop_seconds)
    segment_probs, track = predict_segments(model.model, model.info.meta, audio, signals, extraction)
    result = Classification(
        model_name=model.name, schema=schema, classes=model.classes, probabilities=track,
        segment_starts=audio.offset_s + extraction.slice_starts / audio.sr, segment_seconds=segment_seconds,
        segment_probabilities=segment_probs, features=pd.Series(extraction.track, index=list(schema.columns)),
        segment_features=extraction.slices, level=model.info.level, audio=audio,
        spectrogram=_spectrogram(signals.log_mel, audio.sr, HOP, audio.offset_s, SPECTROGRAM_COLUMNS),
        feature_stats=model.info.meta.get("feature_stats", {}), seconds=0.0)
    result.explanation = explain(result, model)
    result.seconds = time.perf_counter() - t0
    return result


def audio_files(paths: list[str]) -> list[str]:
    """The files named (local or URLs), with folders expanded (recursively, audio extensions only, sorted)."""
    from core.dataset import AUDIO_EXTENSIONS

    out: list[str] = []
    for p in paths:
        if storage.is_dir(p):
            out += [str(f) for f, rel in storage.find(p) if posixpath.splitext(rel)[1].lower() in AUDIO_EXTENSIONS]
        else:
            out.append(str(p))
    return out


def predict_files(paths: list[str], model: LoadedModel, *, limit: AnalysisLimit = AnalysisLimit(),
                  progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per file (:func:`predict_file`): genre, confidence, top 3, every genre's probability, or the
    error. Bad files never stop the batch."""
    rows = []
    for path in paths:
        rows.append(predict_file(path, model, limit=limit))
        if progress is not None:
            progress(path)
    return pd.DataFrame(rows, columns=["path", *summary_columns(model.classes)])


def predict_file(path: str, model: LoadedModel, *, limit: AnalysisLimit = AnalysisLimit()) -> dict[str, object]:
    """``path``'s results-table row; never raises. A file that fails has an empty genre and the reason in
    ``error`` (:func:`core.failures.failure_message`); numeric warnings join the loader's in ``warnings``."""
    row: dict[str, object] = {"path": path}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            row.update(summary_row(classify(path, model, limit=limit)))
        except Exception as exc:  # one file's failure, whatever it is, is that file's row
            row.update(genre="", confidence=np.nan, error=failure_message(exc, path))
    for w in caught:  # other warnings (deprecations) are for developers: shown as usual
        if not issubclass(w.category, RuntimeWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    noted = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught
                               if issubclass(w.category, RuntimeWarning)))
    if noted:
        row["warnings"] = " ".join(filter(None, [str(row.get("warnings", "")), *noted]))
    return row


def summary_row(result: Classification) -> dict[str, object]:
    """One result as a results-table row: genre, confidence, top 3, every genre's probability, analysed
    part, loader warnings and an empty ``error`` (columns: :func:`summary_columns`)."""
    row: dict[str, object] = {
        "genre": result.genre, "confidence": round(float(result.probabilities.max()), 4),
        "top3": ", ".join(f"{g} {p:.2f}" for g, p in result.top(3))}
    row.update({f"p_{c}": round(float(p), 4) for c, p in zip(result.classes, result.probabilities)})
    row.update(analysed=result.audio.analysed_part(), warnings=" ".join(result.audio.warnings), error="")
    return row


def summary_columns(classes: tuple[str, ...]) -> list[str]:
    """The columns of :func:`summary_row` (and of :func:`predict_files` after ``path``)."""
    return ["genre", "confidence", "top3", *(f"p_{c}" for c in classes), "analysed", "warnings", "error"]

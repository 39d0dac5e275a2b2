"""Classify audio with a registered model: one decode, one set of signals, every answer the UI needs.

:func:`classify` returns a :class:`Classification`: track probabilities and top-k, the 3-s segment
probabilities (start times in the source's time), the whole-track feature row, the decoded audio, a
display-sized log-mel spectrogram, the time each stage took, the model's measured reasons
(:mod:`core.models.explain`) and :meth:`Classification.describe`, which compares the clip's features with the
per-genre statistics stored in ``model.json`` (a description, not the model's reasons). For a model whose
card has a calibration and an index of training songs (:mod:`core.models.calibration`), the top
genre's probability is its calibrated chance of being right on music from outside the training set and
:attr:`Classification.chance` the chances of the top 1, 2, 3 genres (the network's own mean is kept in
``model_probabilities``), and :attr:`Classification.novelty`
says how far the recording is from the training songs and which are closest; :meth:`Classification.verdict`
puts it in words with the model's fitted thresholds and the chance that it is right as worded.

Every intermediate is computed once and its cost grows at most linearly with the audio: one decode,
one resampling per rate, one feature STFT (whose mel spectrogram is also the display spectrogram), one
musicnn log-mel, and the network over the segments in fixed-size batches. The verdict reads at most
:attr:`core.audio.AnalysisLimit.max_windows` windows spread evenly over the analysed part (the CLI and
the page share that limit). A model that reads only musicnn patches needs no feature STFT for its
verdict: its display spectrogram comes from the musicnn log-mel, and the feature rows (for
:meth:`Classification.describe`) are computed on first use, from the audio of the windows it read.
A ``progress`` callback hears the verdict of the windows classified so far.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable

import numpy as np
import pandas as pd

from core.audio import AnalysisLimit, Audio, Source, load_audio
from core.features import musicnn
from core.features.extract import HOP, Extraction, Signals, compute_signals, extract, extract_signals, slice_starts
from core.features.schema import FeatureSchema
from core.models.calibration import Honesty
from core.models.explain import Explanation, explain
from core.models.model_card import FeatureStats
from core.models.model_inputs import input_kinds, needs_features, predict_segments, segment_input
from core.models.music_detector import music_detector
from core.models.neighbours import Novelty
from core.models.registry import LoadedModel
from core.verdict import PAIR, SURE, Verdict, verdict

# Segments side by side (hop = their length, 3 s): the models' track accuracy was measured so, and
# half-overlapping windows would double the network's work for the same verdict.
HOP_SECONDS: float | None = None
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
    windows: int  # side-by-side windows in the analysed part; the verdict read len(segment_starts) of them
    feature_rows: Callable[[], Extraction]  # the feature rows of the analysed part and its segments (on first use)
    level: str  # rows the model expects: 'slice' or 'track'
    audio: Audio
    spectrogram: Spectrogram
    feature_stats: FeatureStats | None  # the card's per-genre statistics
    seconds: float  # time classify took
    stages: dict[str, float]  # seconds per stage (decode, feature STFT, network, ...); some overlap in time
    explanation: Explanation | None = None  # the model's measured reasons (core.models.explain)
    segment_tag_logits: np.ndarray | None = None  # (n_segments, n_tags) what a tag model read (core.models.tag_evidence)
    model_probabilities: np.ndarray | None = None  # the network's mean before calibration (None: not calibrated)
    novelty: Novelty | None = None  # distance to the training songs and the closest ones (tag models)
    chance: np.ndarray | None = None  # calibrated chance the true genre is among the top 1, 2, 3 (None: not calibrated)
    sure_threshold: float = SURE  # the verdict names one genre at or above this chance (fitted, in the card)
    pair_threshold: float = PAIR  # ... else two at or above this one (fitted, in the card)
    segment_music: np.ndarray | None = None  # (n_segments,) bool: the window sounds like music (None: no detector)
    is_music: bool | None = None  # False: judged not music; None: the model cannot tell (no music detector)

    def verdict(self, name: Callable[[str], str] = str) -> Verdict:
        """The verdict in words (:func:`core.verdict.verdict`) with this model's fitted thresholds."""
        return verdict(self.probabilities, self.classes, name, sure=self.sure_threshold, pair=self.pair_threshold,
                       chance=self.chance, novel=self.novelty is not None and self.novelty.novel, music=self.is_music)

    @property
    def verdict_windows(self) -> np.ndarray:
        """Which windows the verdict reads (:func:`windows_heard`)."""
        return windows_heard(self.segment_music, len(self.segment_starts))

    @property
    def genre(self) -> str:
        return self.classes[int(np.argmax(self.probabilities))]

    @cached_property
    def _extraction(self) -> Extraction:
        return self.feature_rows()

    @property
    def features(self) -> pd.Series:
        """The whole-track feature row (schema columns); for a musicnn model, of the windows it read."""
        return pd.Series(self._extraction.track, index=list(self.schema.columns))

    @property
    def segment_features(self) -> np.ndarray:
        """The segments' feature rows ``(n_segments, n_features)``."""
        return self._extraction.slices

    def analysed(self) -> str:
        """What the verdict heard, for people: the analysed part, and how many of its windows when the
        analysis limit spread fewer than all of them over it."""
        part, n = self.audio.analysed_part(), len(self.segment_starts)
        if n == self.windows:
            return part
        return f"{part}, {n} of its {self.windows} windows of {self.segment_seconds:g} s spread evenly"

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most likely genres with their probabilities, best first."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(self.classes[i], float(self.probabilities[i])) for i in order]

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
        genres = self.feature_stats.genres if self.feature_stats else {}
        (genre, _), (runner_up, _) = self.top(2) if len(self.classes) > 1 else (self.top(1) * 2)
        if genre not in genres or runner_up not in genres:
            return []
        row = self.explained_row()
        out = []
        for column in features or row.index:
            value = float(row[column])
            g, r = genres[genre][column], genres[runner_up][column]
            out.append(Evidence(column, self.schema.describe(column), value, genre, runner_up, g.median, r.median,
                                (value - g.mean) / (g.std or 1.0), (value - r.mean) / (r.std or 1.0)))
        if features:
            return out
        return sorted((e for e in out if abs(e.z_genre) < 1 and e.score > 0), key=lambda e: -e.score)[:k]


def _spectrogram(log_mel: np.ndarray, sr: int, hop: int, offset_s: float, columns: int) -> Spectrogram:
    step = max(1, int(np.ceil(log_mel.shape[1] / columns)))
    n = log_mel.shape[1] // step * step
    db = log_mel[:, :n].reshape(log_mel.shape[0], -1, step).mean(axis=2) if n else log_mel
    return Spectrogram(db.astype(np.float32), offset_s, step * hop / sr, sr / 2)


def _musicnn_spectrogram(spec: np.ndarray, offset_s: float) -> Spectrogram:
    """The display spectrogram from musicnn's log-mel ``(frames, 96)``: its mel power back in dB
    (:func:`librosa.power_to_db`, as the feature STFT's), 96 bands up to 8 kHz."""
    import librosa

    power = (np.power(10.0, spec.T, dtype=np.float32) - 1) / 10_000
    return _spectrogram(librosa.power_to_db(power), musicnn.SAMPLE_RATE, musicnn.HOP, offset_s, SPECTROGRAM_COLUMNS)


def spread(n: int, k: int | None) -> np.ndarray:
    """Indices of at most ``k`` of ``n`` windows, evenly spread from the first to the last (all when
    ``k`` is None or at least ``n``)."""
    if k is None or n <= k:
        return np.arange(n)
    if k < 1:
        raise ValueError(f"max_windows must be at least 1, got {k}")
    return np.unique(np.rint(np.linspace(0, n - 1, k)).astype(np.int64))


def windows_heard(segment_music: np.ndarray | None, n: int) -> np.ndarray:
    """Which of ``n`` windows a verdict reads: those that sound like music, or all of them when none does or
    the model has no music detector (``segment_music`` None)."""
    if segment_music is None or not segment_music.any():
        return np.ones(n, dtype=bool)
    return segment_music


@dataclass(frozen=True)
class Progress:
    """How far :func:`classify` has got: what it is doing and the verdict of the windows done so far."""

    stage: str  # "decoding", "listening" (the network over the windows) or "finishing"
    windows_done: int
    windows: int  # 0 until the audio is decoded
    probabilities: np.ndarray | None  # mean of the windows classified so far
    elapsed_s: float
    listening_s: float  # seconds spent on the windows so far

    @property
    def fraction(self) -> float:
        return self.windows_done / self.windows if self.windows else 0.0

    def remaining_s(self) -> float | None:
        """Seconds left for the network, at its pace so far (None before the first batch)."""
        if not self.windows_done:
            return None
        return self.listening_s / self.windows_done * (self.windows - self.windows_done)


def _timed(stages: dict[str, float], name: str, fn: Callable, *args, **kwargs):
    start = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    finally:
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - start


def _window_rows(audio: Audio, schema: FeatureSchema, starts: np.ndarray, segment_seconds: float,
                 stages: dict[str, float]) -> Extraction:
    """Feature rows of the windows at ``starts`` alone: their audio joined, one row per window (and
    the track row of the joined audio). For a description, not for a verdict."""
    length = int(round(segment_seconds * audio.sr))
    joined = np.concatenate([audio.y[s:s + length] for s in starts])
    return _timed(stages, "feature rows (described windows)", extract, joined, audio.sr, schema,
                  slice_seconds=segment_seconds)


_HONESTY: "weakref.WeakKeyDictionary[object, Honesty]" = weakref.WeakKeyDictionary()


def _honesty(model: LoadedModel) -> Honesty:
    """The model card's calibration and training-song index, read once per loaded model."""
    if model.network not in _HONESTY:
        _HONESTY[model.network] = Honesty.of(model.info.card.reliability)
    return _HONESTY[model.network]


def classify(source: Source | Audio, model: LoadedModel, *, limit: AnalysisLimit = AnalysisLimit(),
             hop_seconds: float | None = HOP_SECONDS, progress: Callable[[Progress], None] | None = None
             ) -> Classification:
    """Classify ``source`` (a path, bytes, file object or an already decoded :class:`Audio`).

    Segments are ``segment_seconds`` long (``model.json``, default 3 s) and start every
    ``hop_seconds`` (default: side by side); the verdict reads at most ``limit.max_windows`` of them,
    spread evenly (:func:`spread`). ``progress`` is called before decoding, after each
    network batch (with the verdict so far) and once more while the last stages finish.
    Raises :class:`core.audio.AudioError` for input that cannot be analysed.
    """
    t0 = time.perf_counter()
    stages: dict[str, float] = {}
    card = model.info.card
    kinds = input_kinds(card)

    network_start: float | None = None

    def report(stage: str, done: int = 0, total: int = 0, probs: np.ndarray | None = None) -> None:
        if progress is not None:
            now = time.perf_counter()
            progress(Progress(stage, done, total, None if probs is None else probs.mean(axis=0), now - t0,
                              0.0 if network_start is None else now - network_start))

    report("decoding")
    audio = source if isinstance(source, Audio) else _timed(stages, "decode", load_audio, source, limit=limit)
    schema = model.schema
    segment_seconds = card.segment_seconds
    every = slice_starts(len(audio.y), audio.sr, segment_seconds, hop_seconds)
    chosen = spread(len(every), limit.max_windows)
    starts = every[chosen]
    signals: Signals | None = None
    extraction: Extraction | None = None
    spec: np.ndarray | None = None
    spectrogram: Spectrogram | None = None
    if needs_features(card):  # one STFT for the rows, the spectrogram patches and the picture
        signals = _timed(stages, "feature STFT", compute_signals, audio.y, audio.sr, schema.signals)
        extraction = _timed(stages, "feature rows", extract_signals, signals, schema, slice_seconds=segment_seconds,
                            hop_seconds=hop_seconds)
        extraction = replace(extraction, slices=extraction.slices[chosen], slice_starts=starts)
        spectrogram = _timed(stages, "display spectrogram", _spectrogram, signals.log_mel, audio.sr, HOP,
                             audio.offset_s, SPECTROGRAM_COLUMNS)
    if "musicnn" in kinds:
        y16k = _timed(stages, "resample 16 kHz", musicnn.to_16k, audio.y, audio.sr)
        spec = _timed(stages, "musicnn log-mel", musicnn.log_mel, y16k)
        if spectrogram is None:
            spectrogram = _timed(stages, "display spectrogram", _musicnn_spectrogram, spec, audio.offset_s)
    inputs = [segment_input(k, starts, audio.sr, signals=signals, extraction=extraction, musicnn_spec=spec)
              for k in kinds]
    report("listening", 0, len(starts))
    network_start = time.perf_counter()
    side: list[np.ndarray] = []
    segment_probs, track = _timed(
        stages, "network", predict_segments, model.network, card, inputs,
        track_row=None if extraction is None else extraction.track,
        batch_done=lambda done, probs: report("listening", done, len(starts), probs), side=side)
    report("finishing", len(starts), len(starts), segment_probs)
    assert spectrogram is not None, "every input kind makes the display spectrogram"
    read = extraction
    tags = np.concatenate(side) if side else None
    detector = music_detector(card.reliability)
    segment_music = None if detector is None or tags is None else detector.window_music(tags)
    heard = windows_heard(segment_music, len(starts))
    if not heard.all():  # the verdict (and what calibrates it) from the windows that sound like music
        track = segment_probs[heard].mean(axis=0)
    honesty = _honesty(model)
    shown, novelty, chance = honesty.read(track, None if tags is None else tags[heard])

    def rows() -> Extraction:
        return read if read is not None else _window_rows(audio, schema, starts, segment_seconds, stages)

    result = Classification(
        model_name=model.name, schema=schema, classes=model.classes, probabilities=shown,
        segment_starts=audio.offset_s + starts / audio.sr, segment_seconds=segment_seconds,
        segment_probabilities=segment_probs, windows=len(every), feature_rows=rows, level=model.info.level,
        audio=audio, spectrogram=spectrogram, feature_stats=card.feature_stats,
        seconds=time.perf_counter() - t0, stages=stages, segment_tag_logits=tags,
        model_probabilities=track if honesty.calibration is not None else None, novelty=novelty,
        chance=chance, sure_threshold=honesty.calibration.sure if honesty.calibration is not None else SURE,
        pair_threshold=honesty.calibration.pair if honesty.calibration is not None else PAIR,
        segment_music=segment_music,
        is_music=None if segment_music is None or detector is None else detector.is_music(segment_music))
    result.explanation = explain(model, [genre for genre, _ in result.top(2)], rows=read,
                                 tag_logits=None if tags is None else tags[heard])
    return result

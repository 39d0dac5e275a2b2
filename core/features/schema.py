"""Feature schemas: the one place that names feature columns, their order and version.

A schema is a list of *groups*. Each group is one frame-level (or sample-level) signal computed by
:mod:`core.features.extract`, summarised over time by mean and variance (or a single value for tempo).
Everything else (the feature store, the models' ``model.json``, the UI) reads column names from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np
import pandas as pd

Aggregate = Literal["per_row", "pooled", "scalar"]

# Identity columns of every feature table, in order, before the schema's feature columns.
IDENTITY_COLUMNS: tuple[str, ...] = (
    "track_id",  # unique per track within a dataset (relative path without extension)
    "path",  # where the audio was read from ("" for imported tables)
    "label",  # genre ("" when unknown)
    "slice",  # -1 for the whole-track row, 0..n-1 for slice rows
    "start_s",  # slice start in seconds (0.0 for the whole track)
    "duration_s",  # seconds of audio the row summarises
    "schema_version",
)
WHOLE_TRACK = -1

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)


def genre_order(labels: Iterable[str]) -> tuple[str, ...]:
    """The genres present in ``labels``: those of :data:`GENRES` in its order, then any others sorted."""
    values = labels if isinstance(labels, (np.ndarray, pd.Series, pd.Index)) else list(labels)
    present = set(pd.unique(np.asarray(values, dtype=object)))  # hash-based: fast for 100,000 labels
    return tuple(g for g in GENRES if g in present) + tuple(sorted(present - set(GENRES)))


@dataclass(frozen=True)
class Group:
    """One computed signal and how it becomes columns.

    ``signal`` names a frame matrix produced by :mod:`core.features.extract`; ``rows`` is how many of its
    rows are used (the first ``rows``). ``aggregate``: ``per_row`` gives ``{name}{i}_mean/_var`` per
    row (or ``{name}_mean/_var`` when ``rows == 1``); ``pooled`` gives one mean and variance over all
    rows and frames; ``scalar`` gives the single column ``{name}``.
    """

    name: str
    signal: str
    rows: int = 1
    aggregate: Aggregate = "per_row"
    help: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        if self.aggregate == "scalar":
            return (self.name,)
        if self.aggregate == "pooled" or self.rows == 1:
            return (f"{self.name}_mean", f"{self.name}_var")
        return tuple(f"{self.name}{i}_{stat}" for i in range(1, self.rows + 1) for stat in ("mean", "var"))


@dataclass(frozen=True)
class FeatureSchema:
    """An ordered, versioned set of feature columns."""

    name: str
    version: str
    groups: tuple[Group, ...]
    description: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for g in self.groups for c in g.columns)

    @property
    def signals(self) -> frozenset[str]:
        return frozenset(g.signal for g in self.groups)

    @property
    def id(self) -> str:
        """``name@version``, stored with every table and model."""
        return f"{self.name}@{self.version}"

    def group_of(self, column: str) -> Group:
        """The group a column belongs to."""
        for g in self.groups:
            if column in g.columns:
                return g
        raise KeyError(column)

    def describe(self, column: str) -> str:
        """One line on what a column means musically."""
        g = self.group_of(column)
        stat = "" if g.aggregate == "scalar" else (
            " (average over time)" if column.endswith("_mean") else " (how much it varies over time)")
        return f"{g.help}{stat}"


_HELP = {
    "chroma": "Energy of each of the 12 pitch classes (C, C#, ... B): harmony and key",
    "rms": "Loudness (root-mean-square energy)",
    "centroid": "Spectral centroid: the 'centre of mass' of the spectrum; higher means brighter",
    "bandwidth": "Spectral bandwidth: how widely the spectrum spreads around its centroid",
    "rolloff": "Spectral roll-off: frequency below which 85% of the energy lies",
    "zcr": "Zero-crossing rate: how often the waveform changes sign; high for noisy, percussive sound",
    "contrast": "Spectral contrast: peak-to-valley difference per octave band; clear tones vs noise",
    "tonnetz": "Tonal centroid (Tonnetz): position of the harmony on fifths/thirds circles",
    "tempo": "Estimated tempo in beats per minute",
    "mfcc": "Mel-frequency cepstral coefficient: overall timbre (MFCC 1 ~ loudness, higher ones finer detail)",
    "harmony": "Harmonic part of the waveform (after harmonic/percussive separation)",
    "perceptr": "Percussive part of the waveform (after harmonic/percussive separation)",
}

SEED = FeatureSchema(
    name="seed",
    version="1",
    description=(
        "The Classically Punk seed set: 13 MFCCs, 12 chroma bins, spectral centroid, bandwidth, "
        "roll-off, zero-crossing rate, RMS, 7 spectral-contrast bands and 6 tonnetz dimensions "
        "(mean and variance each) plus tempo. Tonnetz is computed from the STFT chroma."
    ),
    groups=(
        Group("chroma", "chroma", 12, help=_HELP["chroma"]),
        Group("rms", "rms", help=_HELP["rms"]),
        Group("spectral_centroid", "centroid", help=_HELP["centroid"]),
        Group("spectral_bandwidth", "bandwidth", help=_HELP["bandwidth"]),
        Group("rolloff", "rolloff", help=_HELP["rolloff"]),
        Group("zero_crossing_rate", "zcr", help=_HELP["zcr"]),
        Group("spectral_contrast", "contrast", 7, help=_HELP["contrast"]),
        Group("tonnetz", "tonnetz", 6, help=_HELP["tonnetz"]),
        Group("tempo", "tempo", aggregate="scalar", help=_HELP["tempo"]),
        Group("mfcc", "mfcc", 13, help=_HELP["mfcc"]),
    ),
)

GTZAN_KAGGLE = FeatureSchema(
    name="gtzan-kaggle",
    version="1",
    description=(
        "The 57 feature columns of the published GTZAN features_30_sec.csv / features_3_sec.csv "
        "(librosa 0.11 defaults), so models trained on those tables apply to new audio."
    ),
    groups=(
        Group("chroma_stft", "chroma", 12, aggregate="pooled", help=_HELP["chroma"]),
        Group("rms", "rms", help=_HELP["rms"]),
        Group("spectral_centroid", "centroid", help=_HELP["centroid"]),
        Group("spectral_bandwidth", "bandwidth", help=_HELP["bandwidth"]),
        Group("rolloff", "rolloff", help=_HELP["rolloff"]),
        Group("zero_crossing_rate", "zcr", help=_HELP["zcr"]),
        Group("harmony", "harmonic", help=_HELP["harmony"]),
        Group("perceptr", "percussive", help=_HELP["perceptr"]),
        Group("tempo", "tempo", aggregate="scalar", help=_HELP["tempo"]),
        Group("mfcc", "mfcc", 20, help=_HELP["mfcc"]),
    ),
)

SCHEMAS: dict[str, FeatureSchema] = {s.name: s for s in (SEED, GTZAN_KAGGLE)}


def get_schema(name_or_id: str) -> FeatureSchema:
    """Look a schema up by ``name`` or ``name@version``; a clear error for unknown ones."""
    name, _, version = name_or_id.partition("@")
    schema = SCHEMAS.get(name)
    if schema is None:
        raise KeyError(f"Unknown feature schema {name_or_id!r}; known: {', '.join(SCHEMAS)}")
    if version and version != schema.version:
        raise KeyError(
            f"Feature schema {name_or_id!r} is not the running version ({schema.id}); "
            "re-extract the features or retrain the model."
        )
    return schema

"""Display-sized views of a classification: waveform envelope, mel band frequencies, genre statistics.

Pure numpy/pandas helpers for the Classify page (and anything else that draws a clip); no plotting here.
"""

from __future__ import annotations

from dataclasses import asdict, fields

import librosa
import numpy as np
import pandas as pd

from core.models.model_card import FeatureStat, FeatureStats

# How genre labels are written for people, on every page and in every shown table (files and CSVs keep the
# labels themselves): capitalised, "hiphop" as "Hip-hop".
GENRE_NAMES = {"hiphop": "Hip-hop"}


def genre_name(genre: str) -> str:
    """How a genre is written for people: ``hiphop`` -> "Hip-hop", ``jazz`` -> "Jazz"."""
    return GENRE_NAMES.get(genre, str(genre).capitalize())


def waveform_envelope(y: np.ndarray, sr: int, offset_s: float = 0.0, columns: int = 1500
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column minimum and maximum of ``y`` (at most ``columns`` columns): ``(times_s, low, high)``.

    ``times_s`` is each column's start in source time (``offset_s`` is where ``y`` starts).
    """
    step = max(1, int(np.ceil(len(y) / columns)))
    n = len(y) // step
    blocks = y[: n * step].reshape(n, step) if n else y[None, :]
    times = offset_s + np.arange(len(blocks)) * step / sr
    return times, blocks.min(axis=1), blocks.max(axis=1)


LEVEL_NAMES = {"slice": "3-s slices", "track": "Whole tracks"}  # what the pages call each level


def mel_band_hz(n_mels: int, fmax_hz: float) -> np.ndarray:
    """Centre frequency (Hz) of each band of an ``n_mels``-band mel spectrogram reaching ``fmax_hz``."""
    return librosa.mel_frequencies(n_mels=n_mels, fmin=0.0, fmax=fmax_hz)


def feature_by_genre(feature_stats: FeatureStats | None, column: str) -> pd.DataFrame:
    """One row per genre of the card's training statistics for ``column`` (mean, std, q25, median, q75)."""
    genres = feature_stats.genres if feature_stats else {}
    rows = {genre: asdict(stats[column]) for genre, stats in genres.items() if column in stats}
    return pd.DataFrame.from_dict(rows, orient="index", columns=[f.name for f in fields(FeatureStat)])

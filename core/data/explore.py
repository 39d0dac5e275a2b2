"""Dataset exploration: the analyses behind the Explore page (no Streamlit here).

Everything takes a feature table (layout of :mod:`core.data.store`) and returns plain DataFrames or
arrays: row selection and filters, sampling for plots, per-genre summaries, feature separability
(ANOVA F and mutual information), a 2-D PCA projection, correlations, and a per-row outlier score
(distance to its own genre's centre in standardised feature space, compared with the nearest
other genre's centre: GTZAN has known mislabels). Audio files are located only inside a given root.
"""

from __future__ import annotations

import os
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.feature_selection import f_classif, mutual_info_classif

from core.data.metadata import AUDIO_EXTENSIONS
from core.data.training_data import Level
from core.features.schema import IDENTITY_COLUMNS, WHOLE_TRACK, FeatureSchema
from core.modes import ScanBounds

MI_MAX_ROWS = 2_000  # mutual information is estimated on at most this many rows (k-NN estimate per feature)
_EPS = 1e-12

_NAMES = {
    "chroma": "Chroma", "chroma_stft": "Chroma", "rms": "Loudness (RMS)",
    "spectral_centroid": "Spectral centroid", "spectral_bandwidth": "Spectral bandwidth",
    "rolloff": "Spectral roll-off", "zero_crossing_rate": "Zero-crossing rate",
    "spectral_contrast": "Spectral contrast", "tonnetz": "Tonnetz", "tempo": "Tempo (BPM)",
    "mfcc": "MFCC", "harmony": "Harmonic part", "perceptr": "Percussive part",
}
_PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def readable_name(schema: FeatureSchema, column: str) -> str:
    """A short human name: ``mfcc3_var`` -> "MFCC 3 · variation", ``chroma1_mean`` -> "Chroma C · mean"."""
    group = schema.group_of(column)
    base = _NAMES.get(group.name, group.name.replace("_", " ").capitalize())
    if group.aggregate == "scalar":
        return base
    stat = "mean" if column.endswith("_mean") else "variation"
    index = re.fullmatch(rf"{re.escape(group.name)}(\d+)_(mean|var)", column)
    if index and group.aggregate == "per_row":
        i = int(index.group(1))
        part = _PITCHES[i - 1] if group.name == "chroma" else str(i)
        return f"{base} {part} · {stat}"
    return f"{base} · {stat}"


def row_kinds(df: pd.DataFrame) -> dict[Level, int]:
    """How many rows the table has at each level: whole-track rows and 3-s slice rows."""
    whole = int((df["slice"] == WHOLE_TRACK).sum())
    return {"track": whole, "slice": len(df) - whole}


def select_rows(df: pd.DataFrame, level: Level) -> pd.DataFrame:
    """The rows of a table at ``level``: 'slice' rows or 'track' (whole-track) rows, possibly none."""
    mask = (df["slice"] != WHOLE_TRACK) if level == "slice" else (df["slice"] == WHOLE_TRACK)
    return df.loc[mask.to_numpy()]


def filter_rows(df: pd.DataFrame, genres: Sequence[str] | None = None,
                ranges: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Rows whose genre is in ``genres`` (all when ``None``) and whose features lie in ``ranges`` (inclusive)."""
    mask = np.ones(len(df), dtype=bool)
    if genres is not None:
        mask &= df["label"].isin(list(genres)).to_numpy()
    for column, (low, high) in (ranges or {}).items():
        values = df[column].to_numpy()
        mask &= (values >= low) & (values <= high)
    return df.loc[mask]


def sample_rows(df: pd.DataFrame, max_rows: int, seed: int = 0) -> tuple[pd.DataFrame, str | None]:
    """At most ``max_rows`` rows, stratified by genre, and a note saying so when rows were left out."""
    if len(df) <= max_rows:
        return df, None
    fraction = max_rows / len(df)
    sample = df.groupby("label", group_keys=False, sort=False).sample(frac=fraction, random_state=seed)
    return sample, f"Plotting a random {len(sample):,} of {len(df):,} rows (same share of every genre)."


def genre_summary(df: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Per genre: rows, distinct tracks, and the mean of each feature in ``features``."""
    grouped = df.groupby("label", sort=True)
    summary = grouped[list(features)].mean()
    summary.insert(0, "tracks", grouped["track_id"].nunique())
    summary.insert(0, "rows", grouped.size())
    summary.index.name = "genre"
    return summary


def separability(df: pd.DataFrame, features: Sequence[str], mutual_info: bool = True, seed: int = 0) -> pd.DataFrame:
    """How well each feature alone separates the genres, best (highest ANOVA F) first.

    ``anova_f``: between-genre variance over within-genre variance (scikit-learn ``f_classif``), with
    its ``p_value``; ``mutual_info`` (when asked: the slow part): mutual information with the genre in
    nats, estimated on at most :data:`MI_MAX_ROWS` rows. Needs at least two genres.
    """
    labels = df["label"].to_numpy()
    if len(np.unique(labels)) < 2:
        raise ValueError("Separability needs rows of at least two genres.")
    x = df[list(features)].to_numpy(dtype=np.float64)
    with warnings.catch_warnings():  # constant features are expected here: they score F = 0, p = 1
        warnings.simplefilter("ignore", (UserWarning, RuntimeWarning))
        f, p = f_classif(x, labels)
    table = pd.DataFrame({"feature": list(features), "anova_f": np.nan_to_num(f), "p_value": np.nan_to_num(p, nan=1.0)})
    if mutual_info:
        table["mutual_info"] = mutual_information(df, features, seed).to_numpy()
    return table.sort_values("anova_f", ascending=False, ignore_index=True)


def mutual_information(df: pd.DataFrame, features: Sequence[str], seed: int = 0) -> pd.Series:
    """Mutual information (nats) between each feature and the genre, on at most :data:`MI_MAX_ROWS` rows."""
    x = df[list(features)].to_numpy(dtype=np.float64)
    labels = df["label"].to_numpy()
    pick = np.random.default_rng(seed).choice(len(x), MI_MAX_ROWS, replace=False) if len(x) > MI_MAX_ROWS else slice(None)
    return pd.Series(mutual_info_classif(x[pick], labels[pick], random_state=seed), index=list(features))


def standardise(x: np.ndarray) -> np.ndarray:
    """Columns scaled to mean 0 and standard deviation 1 (constant columns become 0)."""
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > _EPS, std, 1.0)


def pca_projection(df: pd.DataFrame, features: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """2-D PCA of the standardised features: (n, 2) coordinates and the explained variance ratio of each axis."""
    if len(df) < 3:
        raise ValueError("A projection needs at least 3 rows.")
    pca = PCA(n_components=2, random_state=0)
    coords = pca.fit_transform(standardise(df[list(features)].to_numpy(dtype=np.float64)))
    return coords, pca.explained_variance_ratio_


def correlation(df: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Pearson correlation between features (constant features give 0, not NaN)."""
    x = standardise(df[list(features)].to_numpy(dtype=np.float64))
    corr = (x.T @ x) / max(len(x), 1)
    np.fill_diagonal(corr, 1.0)
    return pd.DataFrame(np.clip(corr, -1.0, 1.0), index=list(features), columns=list(features))


def genre_outliers(df: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Per row: distance to its own genre's centre and to the nearest other genre's centre.

    Distances are Euclidean in standardised feature space divided by sqrt(number of features) (a
    typical row sits around 1). ``ratio`` = own / nearest other: above 1 the row is closer to another
    genre than to its own, a likely mislabel (or an unusual track). Sorted by ratio, highest first;
    the index is the table's.
    """
    labels = df["label"].to_numpy()
    genres = np.unique(labels)
    if len(genres) < 2:
        raise ValueError("Outliers need rows of at least two genres.")
    x = standardise(df[list(features)].to_numpy(dtype=np.float64))
    centres = np.stack([x[labels == g].mean(axis=0) for g in genres])
    squared = (x**2).sum(axis=1)[:, None] - 2 * x @ centres.T + (centres**2).sum(axis=1)[None, :]
    dist = np.sqrt(np.maximum(squared, 0.0) / x.shape[1])  # (rows, genres), without an (n, g, f) array
    own_index = np.searchsorted(genres, labels)
    own = dist[np.arange(len(x)), own_index]
    others = dist.copy()
    others[np.arange(len(x)), own_index] = np.inf
    nearest = others.argmin(axis=1)
    table = pd.DataFrame({
        "track_id": df["track_id"].to_numpy(), "slice": df["slice"].to_numpy(), "label": labels,
        "distance_own": own, "nearest_other": genres[nearest],
        "distance_other": others[np.arange(len(x)), nearest],
    }, index=df.index)
    table["ratio"] = table["distance_own"] / np.maximum(table["distance_other"], _EPS)
    return table.sort_values("ratio", ascending=False, kind="stable")


@dataclass(frozen=True)
class AudioIndex:
    """Audio files under one root folder, found by relative path or by file stem.

    ``truncated`` says which bound stopped the scan (None when the whole tree was read).
    """

    root: Path
    by_stem: Mapping[str, Path]
    truncated: str | None = None

    @classmethod
    def scan(cls, root: str | Path, bounds: ScanBounds) -> AudioIndex:
        """Index the audio files under ``root`` within ``bounds`` (first found wins for a repeated stem).

        Folders are walked in sorted order without following directory symlinks (so a link loop
        or a link to ``/`` is never entered); a file symlink counts only when its target is inside the root.
        """
        root = Path(root).resolve()
        by_stem: dict[str, Path] = {}
        deadline, seen = time.monotonic() + bounds.max_seconds, 0
        truncated = None
        for folder, dirs, files in os.walk(root, onerror=lambda _: None):
            depth = len(Path(folder).relative_to(root).parts)
            if depth >= bounds.max_depth and dirs:
                truncated, dirs[:] = truncated or f"folders deeper than {bounds.max_depth} levels skipped", []
            dirs.sort()
            seen += len(files) + len(dirs)
            if seen > bounds.max_entries or time.monotonic() > deadline:
                truncated = (f"stopped after {bounds.max_entries:,} entries" if seen > bounds.max_entries
                             else f"stopped after {bounds.max_seconds:g} s")
                break
            for name in sorted(files):
                file = Path(folder, name)
                if file.suffix.lower() in AUDIO_EXTENSIONS and file.stem not in by_stem:
                    target = file.resolve() if file.is_symlink() else file
                    if target.is_relative_to(root) and target.is_file():
                        by_stem[file.stem] = file
        return cls(root, by_stem, truncated)

    def locate(self, path: str, track_id: str) -> Path | None:
        """The audio of a table row, only if it is an audio file under the root.

        ``path`` (the row's path column, absolute, relative to the working folder or to the root) is
        tried first; then the file named like the track id (``blues/blues.00000`` -> ``blues.00000.*``).
        """
        if path:
            for candidate in (Path(path), self.root / path):
                resolved = candidate.resolve()
                if (resolved.suffix.lower() in AUDIO_EXTENSIONS and resolved.is_relative_to(self.root)
                        and resolved.is_file()):
                    return resolved
        return self.by_stem.get(Path(track_id).name)


class IndexCache:
    """Audio indexes scanned on a background thread, shared by every caller (the ``size`` latest roots).

    A caller waits at most ``wait_s`` for a scan and gets None while it still runs; the scan goes on
    and the next call finds it done. Call :meth:`get` with ``wait_s=0`` to start scans ahead of time.
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audio-scan")
        self._scans: OrderedDict[tuple[Path, ScanBounds], Future[AudioIndex]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, root: str | Path, bounds: ScanBounds, wait_s: float) -> AudioIndex | None:
        key = (Path(root).resolve(), bounds)
        with self._lock:
            if key not in self._scans:
                self._scans[key] = self._pool.submit(AudioIndex.scan, *key)
                while len(self._scans) > self.size:
                    self._scans.popitem(last=False)
            self._scans.move_to_end(key)
            future = self._scans[key]
        try:
            return future.result(timeout=wait_s)
        except TimeoutError:
            return None


def synthetic_table(schema: FeatureSchema, n_tracks: int, slices: int = 0, seed: int = 0,
                    genres: Sequence[str] = ("blues", "classical", "jazz", "metal", "rock")) -> pd.DataFrame:
    """A made-up feature table (for tests and benchmarks): genre-dependent Gaussian features.

    ``n_tracks`` whole-track rows, each followed by ``slices`` slice rows of the same track.
    """
    rng = np.random.default_rng(seed)
    n_features, per_track = len(schema.columns), slices + 1
    centres = rng.normal(0, 2, (len(genres), n_features))
    scale = np.abs(rng.normal(50, 20, n_features)) + 1
    genre_of = np.arange(n_tracks) % len(genres)
    tracks = centres[genre_of] + rng.normal(0, 1, (n_tracks, n_features))
    slice_ids = np.tile(np.arange(-1, slices), n_tracks)
    values = np.repeat(tracks, per_track, axis=0)
    values += rng.normal(0, 0.5, values.shape) * (slice_ids >= 0)[:, None]
    labels = np.repeat(np.asarray(genres)[genre_of], per_track)
    numbers = np.repeat(np.arange(n_tracks), per_track)
    identity = pd.DataFrame({
        "track_id": [f"{g}/{g}.{i:05d}" for g, i in zip(labels, numbers)], "path": "", "label": labels,
        "slice": slice_ids.astype(np.int32), "start_s": np.maximum(slice_ids, 0) * 3.0,
        "duration_s": np.where(slice_ids < 0, 30.0, 3.0), "schema_version": schema.id,
    })[list(IDENTITY_COLUMNS)]
    return pd.concat([identity, pd.DataFrame(values * scale, columns=list(schema.columns))], axis=1)

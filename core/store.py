"""Feature tables on disk: read, validate and write them (Parquet, or the published GTZAN CSVs).

A *feature table* has the identity columns (:data:`core.schema.IDENTITY_COLUMNS`) followed by the
feature columns of one schema, in order. It is stored either as one Parquet file or as a *store
directory* written part by part by :mod:`core.dataset` (see :mod:`core.parts`).
:func:`read_features` reads all of these, plus the published GTZAN ``features_30_sec.csv`` /
``features_3_sec.csv``, into the same layout, and refuses anything it cannot vouch for with a
:class:`FeatureTableError` naming the offending columns or rows.
"""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core import storage
from core.atomic import atomic_file
from core.schema import GENRES, GTZAN_KAGGLE, IDENTITY_COLUMNS, WHOLE_TRACK, FeatureSchema, get_schema

# Columns of the published GTZAN CSVs besides the 57 feature columns.
CSV_ID_COLUMNS = ("filename", "length", "label")
CSV_SAMPLE_RATE = 22_050
CSV_SLICE_SECONDS = 3.0
# genre.NNNNN.wav (a 30-s row) or genre.NNNNN.S.wav (3-s slice S of that clip)
_CSV_FILENAME = re.compile(r"^(?P<track>[^.]+\.[^.]+)(?:\.(?P<slice>\d+))?\.(?:wav|au)$", re.IGNORECASE)
_SHOWN = 5  # how many offending rows or columns an error message lists


class FeatureTableError(ValueError):
    """A feature table that cannot be used; the message says which columns or rows are wrong."""


def _listing(items: list, total: int | None = None) -> str:
    total = len(items) if total is None else total
    shown = ", ".join(str(i) for i in items[:_SHOWN])
    return shown + (f" … ({total} in all)" if total > _SHOWN else "")


def _column_problems(columns: list, expected: list[str], unknown_as: str) -> str:
    """'missing columns: ...; <unknown_as>: ...' for what differs from ``expected`` ("" when nothing does)."""
    missing = [c for c in expected if c not in columns]
    unknown = [c for c in columns if c not in expected]
    return "; ".join(([f"missing columns: {_listing(missing)}"] if missing else [])
                     + ([f"{unknown_as}: {_listing(unknown)}"] if unknown else []))


def feature_schema_of(df: pd.DataFrame) -> FeatureSchema:
    """The schema a feature table was extracted with, from its ``schema_version`` column."""
    if "schema_version" not in df.columns:
        raise FeatureTableError("The table has no 'schema_version' column, so its feature schema is unknown.")
    versions = sorted(set(df["schema_version"].astype(str)))
    if len(versions) != 1:
        raise FeatureTableError(f"The table mixes feature schemas ({', '.join(versions) or 'none'}); "
                                "use one schema per table.")
    try:
        return get_schema(versions[0])
    except KeyError as exc:
        raise FeatureTableError(exc.args[0]) from None


def validate_features(df: pd.DataFrame, source: str = "The table") -> pd.DataFrame:
    """Check a table against its schema and return it in canonical layout and dtypes.

    Raises :class:`FeatureTableError` for missing or unknown columns, non-numeric or missing
    feature values, unknown genre labels and repeated (track_id, slice) rows.
    """
    schema = feature_schema_of(df)
    expected = list(IDENTITY_COLUMNS) + list(schema.columns)
    problems = _column_problems(list(df.columns), expected, f"columns not in schema {schema.id}")
    if problems:
        raise FeatureTableError(f"{source} does not match feature schema {schema.id}: {problems}.")
    out = df[expected].reset_index(drop=True)
    for col in ("track_id", "path", "label", "schema_version"):
        out[col] = out[col].fillna("").astype(str)
    for col in ("slice", "start_s", "duration_s", *schema.columns):
        values = pd.to_numeric(out[col], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)))
        if len(bad):
            raise FeatureTableError(
                f"{source}: column {col!r} has missing or non-numeric values in rows {_listing(list(bad))}.")
        out[col] = values
    out["slice"] = out["slice"].astype(np.int32)
    out = out.astype({c: np.float64 for c in ("start_s", "duration_s", *schema.columns)})
    bad_labels = sorted(set(out["label"]) - set(GENRES) - {""})
    if bad_labels:
        rows = np.flatnonzero(out["label"].isin(bad_labels).to_numpy())
        raise FeatureTableError(f"{source}: unknown genre labels {_listing(bad_labels)} in rows "
                                f"{_listing(list(rows))}; known genres: {', '.join(GENRES)}.")
    dup = out.duplicated(["track_id", "slice"], keep=False).to_numpy()
    if dup.any():
        raise FeatureTableError(f"{source}: the same (track_id, slice) appears more than once, rows "
                                f"{_listing(list(np.flatnonzero(dup)))}.")
    return out


def read_features(path: str | os.PathLike) -> pd.DataFrame:
    """Read a feature table: a Parquet file, a store directory, or a published GTZAN CSV; local or a
    URL (:mod:`core.storage`)."""
    path = storage.location(path)
    name = storage.name(path)
    if storage.is_dir(path):
        from core.parts import read_store  # the store directory builds on this module
        return read_store(path)
    if not storage.is_file(path):
        raise FeatureTableError(f"{path}: no such file or directory.")
    if name.lower().endswith(".csv"):
        return read_gtzan_csv(path)
    try:
        with storage.open_input(path) as handle:
            df = pd.read_parquet(handle)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FeatureTableError(f"{name} is not a readable Parquet feature table ({exc}).") from None
    return validate_features(df, name)


def read_gtzan_csv(path: str | os.PathLike) -> pd.DataFrame:
    """The published GTZAN ``features_30_sec.csv`` / ``features_3_sec.csv`` in feature-table layout.

    ``blues.00000.wav`` becomes the whole-track row (slice -1) of track ``blues.00000``;
    ``blues.00000.3.wav`` becomes slice 3 of the same track, starting at 9 s.
    """
    name = storage.name(path)
    try:
        with storage.open_input(path) as handle:
            raw = pd.read_csv(handle)
    except pd.errors.EmptyDataError:
        raise FeatureTableError(f"{name} is empty: it has no header row and no data.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise FeatureTableError(f"{name} is not a readable CSV file ({exc}).") from None
    expected = list(CSV_ID_COLUMNS) + list(GTZAN_KAGGLE.columns)
    problems = _column_problems(list(raw.columns), expected, "unexpected columns")
    if problems:
        raise FeatureTableError(f"{name} is not a published GTZAN feature CSV: {problems}.")
    names = raw["filename"].fillna("").astype(str).str.extract(_CSV_FILENAME)
    bad = np.flatnonzero(names["track"].isna().to_numpy())
    if len(bad):
        raise FeatureTableError(f"{name}: column 'filename' has values that are not GTZAN clip names "
                                f"(like blues.00000.wav or blues.00000.3.wav) in rows {_listing(list(bad))}.")
    slices = pd.to_numeric(names["slice"]).fillna(WHOLE_TRACK).astype(np.int32)
    length = pd.to_numeric(raw["length"], errors="coerce")
    identity = pd.DataFrame({
        "track_id": names["track"].astype(str),
        "path": "",
        "label": raw["label"].fillna("").astype(str),
        "slice": slices,
        "start_s": np.where(slices >= 0, slices * CSV_SLICE_SECONDS, 0.0),
        "duration_s": length / CSV_SAMPLE_RATE,
        "schema_version": GTZAN_KAGGLE.id,
    })
    table = pd.concat([identity, raw[list(GTZAN_KAGGLE.columns)]], axis=1)
    return validate_features(table, name)


def write_parquet_atomic(df: pd.DataFrame, path: str | os.PathLike, *, float32: bool = False
                         ) -> storage.Location:
    """Write ``df`` as zstd Parquet, never a half file: via a temporary file renamed into place, or
    to a URL in one upload (:func:`core.storage.write_bytes`).

    ``float32=True`` stores the feature columns as float32 (half the size; read back as float64).
    """
    path = storage.location(path)
    if float32:
        features = [c for c in df.columns if c not in IDENTITY_COLUMNS]
        df = df.astype({c: np.float32 for c in features})
    table = pa.Table.from_pandas(df, preserve_index=False)
    if storage.is_url(path):
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        storage.write_bytes(path, buffer.getvalue())
        return path
    with atomic_file(path) as handle:  # streamed: a large table is not held twice in memory
        pq.write_table(table, handle, compression="zstd")
    return path

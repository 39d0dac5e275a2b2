"""Feature tables on disk: read, validate and write them (Parquet, or the published GTZAN CSVs).

A *feature table* has the identity columns (:data:`core.features.schema.IDENTITY_COLUMNS`) followed by the
feature columns of one schema, in order. It is stored either as one Parquet file or as a *store
directory* written part by part by :mod:`core.data.dataset`.
:func:`read_features` reads all of these, plus the published GTZAN ``features_30_sec.csv`` /
``features_3_sec.csv``, into the same layout, and refuses anything it cannot vouch for with a
:class:`FeatureTableError` naming the offending columns or rows.

Layout of a store directory::

    manifest.json            schema id, slices per track, created
    parts/part-0000.parquet  feature rows of some tracks (all rows of a track are in one part)
    errors.parquet           track_id, path, reason for files that could not be analysed

Every file is written whole or not at all (a temporary renamed into place on disk, one upload on an
object store: :func:`core.storage.write_bytes`), so a part is either complete or absent; a rerun skips
the tracks already in the parts (see :func:`done_keys`). The store may be a local folder or a URL
(``s3://bucket/store``; :mod:`core.storage`). The same layout, opened with other settings
(:func:`open_folder`), keeps the results of ``core predict --engine dask`` (:mod:`core.predict_dask`).
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core import storage
from core.atomic import atomic_file
from core.features.schema import (
    GTZAN_KAGGLE,
    IDENTITY_COLUMNS,
    WHOLE_TRACK,
    FeatureSchema,
    get_schema,
)
from core.storage import Location, child

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
    feature values and repeated (track_id, slice) rows. Labels may be any genres (a model learns the set it is given).
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
    dup = out.duplicated(["track_id", "slice"], keep=False).to_numpy()
    if dup.any():
        raise FeatureTableError(f"{source}: the same (track_id, slice) appears more than once, rows "
                                f"{_listing(list(np.flatnonzero(dup)))}.")
    return out


@dataclass(frozen=True)
class TableExtent:
    """How big a table is once read: its rows and its unpacked bytes."""

    rows: int
    bytes: int


_WIDTHS = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12}
STRING_BYTES = 64  # what one short text value costs once read (a Python string in a pandas column)


def table_extent(path: str | os.PathLike) -> TableExtent:
    """A single-file table's extent without reading it. Parquet, from its footer: the rows, and the bytes its
    columns take once decoded (rows x the width of each column's type, :data:`STRING_BYTES` per text
    value; dictionary and run-length encoding make the file itself no guide). CSV: its lines (less the
    header) and its size. FeatureTableError when the file is no Parquet file."""
    name = storage.name(path)
    with storage.open_input(path) as handle:
        if name.lower().endswith(".csv"):
            lines, size, last = 0, 0, b"\n"
            while chunk := handle.read(1 << 20):
                lines, size, last = lines + chunk.count(b"\n"), size + len(chunk), chunk[-1:]
            return TableExtent(max(lines - (last == b"\n"), 0), size)
        try:
            meta = pq.ParquetFile(handle).metadata
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise FeatureTableError(f"{name} is not a readable Parquet feature table ({exc}).") from None
        columns = [meta.schema.column(i) for i in range(meta.num_columns)]
        width = sum(c.length if c.physical_type == "FIXED_LEN_BYTE_ARRAY" else _WIDTHS.get(c.physical_type, STRING_BYTES)
                    for c in columns)
        encoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        return TableExtent(meta.num_rows, max(meta.num_rows * width, encoded))


def read_features(path: str | os.PathLike) -> pd.DataFrame:
    """Read a feature table: a Parquet file, a store directory, or a published GTZAN CSV; local or a
    URL (:mod:`core.storage`)."""
    path = storage.location(path)
    name = storage.name(path)
    if storage.is_dir(path):
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


# --- the store directory ----------------------------------------------------------------------------

PARTS_DIR = "parts"
ERRORS_FILE = "errors.parquet"
MANIFEST_FILE = "manifest.json"
ERROR_COLUMNS = ("track_id", "path", "reason")


def is_store(path: str | os.PathLike) -> bool:
    """True when ``path`` is a store directory (it has a manifest or a parts folder)."""
    return storage.is_file(child(path, MANIFEST_FILE)) or storage.is_dir(child(path, PARTS_DIR))


def part_paths(root: str | os.PathLike) -> list[Location]:
    """The complete parts of a store, in the order they were written."""
    return storage.glob(child(root, PARTS_DIR), "part-*.parquet")


def table_files(source: str | os.PathLike) -> list[Location]:
    """The Parquet files of a store directory, a folder of Parquet files, or one Parquet file."""
    source = storage.location(source)
    if storage.is_file(source):
        return [source]
    files = part_paths(source) if is_store(source) else storage.glob(source, "*.parquet")
    if not files:
        raise FeatureTableError(f"{source}: no Parquet feature files found.")
    return files


def read_store(root: str | os.PathLike) -> pd.DataFrame:
    """All parts of a store as one validated table, one row per (track_id, slice)."""
    root = storage.location(root)
    if not is_store(root):
        raise FeatureTableError(f"{root} is a folder but not a feature store (no {MANIFEST_FILE} or {PARTS_DIR}/).")
    table = read_parts(root, ["track_id", "slice"])
    if table is None:
        raise FeatureTableError(f"The feature store {root} has no features yet.")
    return validate_features(table.sort_values(["track_id", "slice"], kind="stable"),
                             f"The feature store {storage.name(root)}")


def read_parts(root: str | os.PathLike, key: list[str]) -> pd.DataFrame | None:
    """The rows of every part of a store, the last one per ``key`` (None when there are no parts)."""
    parts = part_paths(root)
    if not parts:
        return None
    table = pd.concat([_read_part(p) for p in parts], ignore_index=True)
    return table.drop_duplicates(key, keep="last")


def _read_part(path: Location) -> pd.DataFrame:
    try:
        with storage.open_input(path) as handle:
            return pd.read_parquet(handle)
    except (pa.ArrowException, OSError) as exc:
        store = storage.name(storage.parent(storage.parent(path)))
        raise FeatureTableError(f"{store}/{PARTS_DIR}/{storage.name(path)} is not a readable Parquet "
                                f"part ({exc}); remove it and rerun the extraction to redo its tracks.") from None


def done_keys(root: str | os.PathLike, column: str = "track_id") -> set[str]:
    """The keys (track ids of a feature store) that already have their rows in a part (read from that
    column only)."""
    done: set[str] = set()
    for part in part_paths(root):
        with storage.open_input(part) as handle:
            done.update(pq.read_table(handle, columns=[column]).column(column).to_pylist())
    return done


def next_part_number(root: str | os.PathLike) -> int:
    """The number the next part gets: one more than the highest so far (0 for none)."""
    return max((int(storage.name(p).split("-")[1].split(".")[0]) for p in part_paths(root)), default=-1) + 1


def write_part(root: str | os.PathLike, rows: pd.DataFrame, number: int | None = None) -> Location:
    """Save ``rows`` as part ``number`` (atomic; replaces that part), by default the next one."""
    number = next_part_number(root) if number is None else number
    return write_parquet_atomic(rows, child(root, PARTS_DIR, f"part-{number:04d}.parquet"))


def read_errors(root: str | os.PathLike) -> pd.DataFrame:
    """The errors table of a store (empty when there were none)."""
    path = child(root, ERRORS_FILE)
    if not storage.is_file(path):
        return pd.DataFrame({c: pd.Series(dtype=str) for c in ERROR_COLUMNS})
    with storage.open_input(path) as handle:
        return pd.read_parquet(handle)[list(ERROR_COLUMNS)]


def write_errors(root: str | os.PathLike, errors: pd.DataFrame) -> None:
    """Replace the errors table (atomic); removes it when there are no errors."""
    path = child(root, ERRORS_FILE)
    if errors.empty:
        storage.remove(path)
    else:
        write_parquet_atomic(errors[list(ERROR_COLUMNS)].reset_index(drop=True), path)


def read_manifest(root: str | os.PathLike) -> dict | None:
    path = child(root, MANIFEST_FILE)
    return json.loads(storage.read_bytes(path)) if storage.is_file(path) else None


def open_store(root: str | os.PathLike, schema: FeatureSchema, max_slices: int | None) -> Location:
    """Create a feature store directory, or check that an existing one was made with the same settings."""
    return open_folder(root, {"schema": schema.id, "slices": max_slices}, "feature store")


def open_folder(root: str | os.PathLike, settings: Mapping[str, object], kind: str) -> Location:
    """Create a store directory of ``kind`` whose manifest records ``settings``, or check that an
    existing one was made with the same settings (a :class:`FeatureTableError` naming them if not)."""
    root = storage.location(root)
    manifest = read_manifest(root)
    if manifest is not None:
        old = {k: manifest.get(k) for k in settings}
        if old != settings:
            def said(values: Mapping[str, object]) -> str:
                return ", ".join(f"{k} {v}" for k, v in values.items())
            raise FeatureTableError(f"The {kind} {root} was made with {said(old)}, not {said(settings)}; "
                                    "choose another output or the same settings.")
        return root
    if isinstance(root, Path):  # object stores have no folders: the first part makes the prefix
        (root / PARTS_DIR).mkdir(parents=True, exist_ok=True)
    manifest = {**settings, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "layout": f"{PARTS_DIR}/part-NNNN.parquet + {ERRORS_FILE}"}
    storage.write_bytes(child(root, MANIFEST_FILE), (json.dumps(manifest, indent=1) + "\n").encode())
    return root


def compact(root: str | os.PathLike, out_file: str | os.PathLike, *, float32: bool = False) -> pd.DataFrame:
    """Write the whole store as one Parquet file (atomic) and return the table."""
    table = read_store(root)
    write_parquet_atomic(table, out_file, float32=float32)
    return table


def store_from_table(root: str | os.PathLike, table: pd.DataFrame, schema: FeatureSchema,
                     max_slices: int | None) -> Location:
    """Add ``table`` to a store directory as one part (its tracks count as done), creating the store."""
    root = open_store(root, schema, max_slices)
    write_part(root, table)
    return root

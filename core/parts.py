"""The store directory: a feature table written part by part, so a crash loses nothing that was saved.

Layout of a store directory::

    manifest.json            schema id, slices per track, created
    parts/part-0000.parquet  feature rows of some tracks (all rows of a track are in one part)
    errors.parquet           track_id, path, reason for files that could not be analysed

Every file is written whole or not at all (a temporary renamed into place on disk, one upload on an
object store: :func:`core.storage.write_bytes`), so a part is either complete or absent; a rerun skips
the tracks already in the parts (see :func:`done_track_ids`). The store may be a local folder or a URL
(``s3://bucket/store``; :mod:`core.storage`).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core import storage
from core.schema import FeatureSchema
from core.storage import Location, child
from core.store import FeatureTableError, validate_features, write_parquet_atomic

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


def read_store(root: str | os.PathLike) -> pd.DataFrame:
    """All parts of a store as one validated table, one row per (track_id, slice)."""
    root = storage.location(root)
    if not is_store(root):
        raise FeatureTableError(f"{root} is a folder but not a feature store (no {MANIFEST_FILE} or {PARTS_DIR}/).")
    parts = part_paths(root)
    if not parts:
        raise FeatureTableError(f"The feature store {root} has no features yet.")
    table = pd.concat([_read_part(p) for p in parts], ignore_index=True)
    table = table.drop_duplicates(["track_id", "slice"], keep="last").sort_values(
        ["track_id", "slice"], kind="stable")
    return validate_features(table, f"The feature store {storage.name(root)}")


def _read_part(path: Location) -> pd.DataFrame:
    try:
        with storage.open_input(path) as handle:
            return pd.read_parquet(handle)
    except (pa.ArrowException, OSError) as exc:
        store = storage.name(storage.parent(storage.parent(path)))
        raise FeatureTableError(f"{store}/{PARTS_DIR}/{storage.name(path)} is not a readable Parquet "
                                f"part ({exc}); remove it and rerun the extraction to redo its tracks.") from None


def done_track_ids(root: str | os.PathLike) -> set[str]:
    """Track ids that already have their rows in a part (read from the track_id column only)."""
    done: set[str] = set()
    for part in part_paths(root):
        with storage.open_input(part) as handle:
            done.update(pq.read_table(handle, columns=["track_id"]).column("track_id").to_pylist())
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
    """Create a store directory, or check that an existing one was made with the same settings."""
    root = storage.location(root)
    manifest = read_manifest(root)
    wanted = {"schema": schema.id, "slices": max_slices}
    if manifest is not None:
        old = {k: manifest.get(k) for k in wanted}
        if old != wanted:
            raise FeatureTableError(
                f"The feature store {root} was made with schema {old['schema']} and {old['slices']} slices, "
                f"not {schema.id} and {max_slices}; choose another output or the same settings.")
        return root
    if isinstance(root, Path):  # object stores have no folders: the first part makes the prefix
        (root / PARTS_DIR).mkdir(parents=True, exist_ok=True)
    manifest = {**wanted, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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

"""The store directory: a feature table written part by part, so a crash loses nothing that was saved.

Layout of a store directory::

    manifest.json            schema id, slices per track, created
    parts/part-0000.parquet  feature rows of some tracks (all rows of a track are in one part)
    errors.parquet           track_id, path, reason for files that could not be analysed

Every file is written to a temporary name and renamed into place, so a part is either complete or
absent; a rerun skips the tracks already in the parts (see :func:`done_track_ids`).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.schema import FeatureSchema
from core.atomic import write_json
from core.store import FeatureTableError, validate_features, write_parquet_atomic

PARTS_DIR = "parts"
ERRORS_FILE = "errors.parquet"
MANIFEST_FILE = "manifest.json"
ERROR_COLUMNS = ("track_id", "path", "reason")


def is_store(path: str | os.PathLike) -> bool:
    """True when ``path`` is a store directory (it has a manifest or a parts folder)."""
    path = Path(path)
    return (path / MANIFEST_FILE).is_file() or (path / PARTS_DIR).is_dir()


def part_paths(root: str | os.PathLike) -> list[Path]:
    """The complete parts of a store, in the order they were written."""
    return sorted((Path(root) / PARTS_DIR).glob("part-*.parquet"))


def read_store(root: str | os.PathLike) -> pd.DataFrame:
    """All parts of a store as one validated table, one row per (track_id, slice)."""
    root = Path(root)
    if not is_store(root):
        raise FeatureTableError(f"{root} is a folder but not a feature store (no {MANIFEST_FILE} or {PARTS_DIR}/).")
    parts = part_paths(root)
    if not parts:
        raise FeatureTableError(f"The feature store {root} has no features yet.")
    table = pd.concat([_read_part(p) for p in parts], ignore_index=True)
    table = table.drop_duplicates(["track_id", "slice"], keep="last").sort_values(
        ["track_id", "slice"], kind="stable")
    return validate_features(table, f"The feature store {root.name}")


def _read_part(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise FeatureTableError(f"{path.parent.parent.name}/{PARTS_DIR}/{path.name} is not a readable Parquet "
                                f"part ({exc}); remove it and rerun the extraction to redo its tracks.") from None


def done_track_ids(root: str | os.PathLike) -> set[str]:
    """Track ids that already have their rows in a part (read from the track_id column only)."""
    done: set[str] = set()
    for part in part_paths(root):
        done.update(pq.read_table(part, columns=["track_id"]).column("track_id").to_pylist())
    return done


def next_part_number(root: str | os.PathLike) -> int:
    """The number the next part gets: one more than the highest so far (0 for none)."""
    return max((int(p.stem.split("-")[1]) for p in part_paths(root)), default=-1) + 1


def write_part(root: str | os.PathLike, rows: pd.DataFrame, number: int | None = None) -> Path:
    """Save ``rows`` as part ``number`` (atomic; replaces that part), by default the next one."""
    number = next_part_number(root) if number is None else number
    return write_parquet_atomic(rows, Path(root) / PARTS_DIR / f"part-{number:04d}.parquet")


def read_errors(root: str | os.PathLike) -> pd.DataFrame:
    """The errors table of a store (empty when there were none)."""
    path = Path(root) / ERRORS_FILE
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=str) for c in ERROR_COLUMNS})
    return pd.read_parquet(path)[list(ERROR_COLUMNS)]


def write_errors(root: str | os.PathLike, errors: pd.DataFrame) -> None:
    """Replace the errors table (atomic); removes it when there are no errors."""
    path = Path(root) / ERRORS_FILE
    if errors.empty:
        path.unlink(missing_ok=True)
    else:
        write_parquet_atomic(errors[list(ERROR_COLUMNS)].reset_index(drop=True), path)


def read_manifest(root: str | os.PathLike) -> dict | None:
    path = Path(root) / MANIFEST_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def open_store(root: str | os.PathLike, schema: FeatureSchema, max_slices: int | None) -> Path:
    """Create a store directory, or check that an existing one was made with the same settings."""
    root = Path(root)
    manifest = read_manifest(root)
    wanted = {"schema": schema.id, "slices": max_slices}
    if manifest is not None:
        old = {k: manifest.get(k) for k in wanted}
        if old != wanted:
            raise FeatureTableError(
                f"The feature store {root} was made with schema {old['schema']} and {old['slices']} slices, "
                f"not {schema.id} and {max_slices}; choose another output or the same settings.")
        return root
    (root / PARTS_DIR).mkdir(parents=True, exist_ok=True)
    manifest = {**wanted, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "layout": f"{PARTS_DIR}/part-NNNN.parquet + {ERRORS_FILE}"}
    write_json(root / MANIFEST_FILE, manifest)
    return root


def compact(root: str | os.PathLike, out_file: str | os.PathLike, *, float32: bool = False) -> pd.DataFrame:
    """Write the whole store as one Parquet file (atomic) and return the table."""
    table = read_store(root)
    write_parquet_atomic(table, out_file, float32=float32)
    return table


def store_from_table(root: str | os.PathLike, table: pd.DataFrame, schema: FeatureSchema,
                     max_slices: int | None) -> Path:
    """Add ``table`` to a store directory as one part (its tracks count as done), creating the store."""
    root = open_store(root, schema, max_slices)
    write_part(root, table)
    return root

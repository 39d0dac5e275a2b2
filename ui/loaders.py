"""Cached loading of feature tables and audio indexes (shared by pages), and uploaded tables on disk.

Tables are kept in one server-wide store bounded in bytes (:data:`TABLES`: one shared read-only copy per
file version, no copying per rerun); pages must not modify them in place. An uploaded table is a file of its session (:class:`SessionUploads`),
removed when it is refused, when its session ends, and at the latest :data:`UPLOAD_KEEP_S` after upload.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from core.atomic import write_bytes
from core.data.explore import AudioIndex, IndexCache
from core.data.store import read_features
from core.memory import ByteLRU
from ui.mode import policy
from ui.settings import REPO_ROOT

DEMO_DIR = REPO_ROOT / "demo"
PRIMARY_DEMO = DEMO_DIR / "gtzan_seed.parquet"  # the seed features: what the default model reads
UPLOAD_DIR = Path(tempfile.gettempdir()) / "classically-punk-uploads"
UPLOAD_KEEP_S = 3600.0  # an uploaded table is removed this long after it was written, whatever happens
_UPLOADS = "loaders_session_uploads"
TABLE_SUFFIXES = (".parquet", ".csv")
SCAN_WAIT_S = 3.0  # a page waits this long for a folder scan, then says it is still running
AUDIO_INDEXES = IndexCache(size=8)
TABLES_MB = 400  # feature tables and the row selections Explore makes of them, kept for the whole server
TABLES = ByteLRU(TABLES_MB * 1e6)


@dataclass(frozen=True)
class TableFile:
    """A feature table the user can pick: a label for menus and where it is."""

    label: str
    path: Path


def table_choices(data_dir: Path | None) -> list[TableFile]:
    """The shipped demo tables (the seed-schema one first), then tables in the dataset folder (its top level
    and ``features/``; a symlink only when it points inside the folder)."""
    demos = sorted(DEMO_DIR.glob("*.parquet"), key=lambda p: (p != PRIMARY_DEMO, p.name))
    found = [TableFile(f"Demo: {p.stem}", p) for p in demos]
    if data_dir is not None:
        for folder in (data_dir, data_dir / "features"):
            if folder.is_dir():
                found += [TableFile(f"Dataset: {p.relative_to(data_dir)}", p) for p in sorted(folder.iterdir())
                          if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES
                          and p.resolve().is_relative_to(data_dir.resolve())]
    return found


def version_of(path: Path) -> float:
    """A stamp that changes when the file (or a store directory's newest part) changes."""
    if path.is_dir():
        return max((p.stat().st_mtime for p in path.rglob("*.parquet")), default=path.stat().st_mtime)
    return path.stat().st_mtime


def load_table(path: str, version: float) -> pd.DataFrame:
    """:func:`core.data.store.read_features`, once per file version while it stays in :data:`TABLES`
    (raises FeatureTableError)."""
    found = TABLES.get(("table", path, version))
    if found is None:
        with st.spinner("Reading the feature table…"):
            found = TABLES.put(("table", path, version), read_features(path))
    return found


class SessionUploads:
    """One session's uploaded tables, in files named by the session and their content; they are deleted when
    this object is (Streamlit drops a session's state when the session ends)."""

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.paths: set[Path] = set()
        weakref.finalize(self, _remove_all, self.paths)

    def save(self, name: str, data: bytes) -> Path:
        """Store an upload (atomic; reused when repeated), first removing every upload older than
        :data:`UPLOAD_KEEP_S`."""
        remove_old_uploads()
        target = UPLOAD_DIR / f"{self.prefix}-{hashlib.sha256(data).hexdigest()[:20]}{Path(name).suffix.lower()}"
        if not target.exists():
            write_bytes(target, data)
        self.paths.add(target)
        return target


def _remove_all(paths: set[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def remove_old_uploads(now: float | None = None) -> None:
    """Delete uploaded tables written more than :data:`UPLOAD_KEEP_S` ago."""
    cutoff = (time.time() if now is None else now) - UPLOAD_KEEP_S
    for path in UPLOAD_DIR.glob("*") if UPLOAD_DIR.is_dir() else ():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:  # removed by another session meanwhile
            continue


def save_upload(name: str, data: bytes) -> Path:
    """Store an uploaded table as a file of this session (:class:`SessionUploads`)."""
    if _UPLOADS not in st.session_state:
        st.session_state[_UPLOADS] = SessionUploads()
    return st.session_state[_UPLOADS].save(name, data)


def is_upload(path: Path) -> bool:
    return path.parent == UPLOAD_DIR


def audio_index(root: Path) -> AudioIndex | None:
    """The audio files under the dataset folder (scanned once, in the background, within the mode's
    bounds), or None while the scan is still running."""
    return AUDIO_INDEXES.get(root, policy().scan_bounds, SCAN_WAIT_S)


def warm_indexes() -> None:
    """Start scanning the public mode's shared folders before anyone asks (no-op once started)."""
    rules = policy()
    for root in rules.allowed_roots[:AUDIO_INDEXES.size] if rules.public else ():
        AUDIO_INDEXES.get(root, rules.scan_bounds, 0)

"""Cached loading of feature tables and audio indexes (shared by pages).

Tables are cached as resources (one shared read-only copy per file version, no copying per rerun);
pages must not modify them in place.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from core.atomic import write_bytes
from core.data.explore import AudioIndex, IndexCache
from core.data.store import read_features
from ui.mode import policy
from ui.settings import REPO_ROOT

DEMO_DIR = REPO_ROOT / "demo"
PRIMARY_DEMO = DEMO_DIR / "gtzan_seed.parquet"  # the seed features: what the default model reads
UPLOAD_DIR = Path(tempfile.gettempdir()) / "classically-punk-uploads"
TABLE_SUFFIXES = (".parquet", ".csv")
SCAN_WAIT_S = 3.0  # a page waits this long for a folder scan, then says it is still running
AUDIO_INDEXES = IndexCache(size=8)


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


@st.cache_resource(max_entries=4, show_spinner="Reading the feature table…")
def load_table(path: str, version: float) -> pd.DataFrame:
    """:func:`core.data.store.read_features`, once per file version (raises FeatureTableError)."""
    return read_features(path)


def save_upload(name: str, data: bytes) -> Path:
    """Store an uploaded table under a name derived from its content (atomic; reused when repeated)."""
    suffix = Path(name).suffix.lower()
    target = UPLOAD_DIR / f"{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
    if not target.exists():
        write_bytes(target, data)
    return target


def audio_index(root: Path) -> AudioIndex | None:
    """The audio files under the dataset folder (scanned once, in the background, within the mode's
    bounds), or None while the scan is still running."""
    return AUDIO_INDEXES.get(root, policy().scan_bounds, SCAN_WAIT_S)


def warm_indexes() -> None:
    """Start scanning the public mode's shared folders before anyone asks (no-op once started)."""
    rules = policy()
    for root in rules.allowed_roots[:AUDIO_INDEXES.size] if rules.public else ():
        AUDIO_INDEXES.get(root, rules.scan_bounds, 0)

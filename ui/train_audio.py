"""The Train page's audio side: where the labelled audio is (genre folders, a ``path,label`` manifest, or FMA-style
``tracks.csv`` beside its audio) and where its patches are cached (the architectures and their settings:
:mod:`ui.train_recipes`).

Sources are the dataset folder (sidebar) itself, its sub-folders and the CSVs in either; in lab mode any typed path
too. In public mode only what lies under the shared folders (:meth:`core.modes.Policy.check_path`).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.dataset import DatasetError, discover
from core.data.metadata import AUDIO_EXTENSIONS, is_metadata_csv
from core.modes import AccessError
from ui.mode import policy
from ui.plain import plain
from ui.settings import REPO_ROOT, data_dir
from ui.visitor import browser_key

CACHE_ENV = "CPUNK_CACHE_DIR"  # where the page keeps patch features (default: data/cache in the repository)
TYPED = "Another folder or CSV (path)…"
SCAN_ENTRIES = 200  # entries of a folder looked at to decide whether it holds genre sub-folders
POOL_FROM = 50  # tracks from which a pool of processes reads the audio (below, starting it costs more than it saves)


@dataclass(frozen=True)
class AudioSource:
    """Labelled audio to train on: where, what the page and the model card call it, tracks per genre."""

    path: Path
    label: str
    tracks: Counter


def _has_audio(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(Path(e.name).suffix.lower() in AUDIO_EXTENSIONS for _, e in zip(range(SCAN_ENTRIES), entries))


def is_genre_folder(folder: Path) -> bool:
    """Whether ``folder`` has at least two sub-folders (not links) with audio files in them (one per genre)."""
    try:
        with os.scandir(folder) as entries:
            subs = [Path(e.path) for _, e in zip(range(SCAN_ENTRIES), entries)
                    if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
        return sum(_has_audio(s) for s in subs) >= 2
    except OSError:
        return False


def is_audio_csv(path: Path) -> bool:
    """Whether a CSV lists audio: ``path,label`` columns, or one of the metadata layouts (a ``track_id`` column,
    FMA's two header rows: :func:`core.data.metadata.is_metadata_csv`); only its header is read."""
    try:
        header = pd.read_csv(path, nrows=0, encoding_errors="replace")
    except (OSError, ValueError):  # pandas' parser and empty-file errors are ValueErrors
        return False
    header.columns = [str(c).strip() for c in header.columns]
    return {"path", "label"} <= set(header.columns) or is_metadata_csv(header)


def audio_sources(root: Path | None) -> list[Path]:
    """Genre folders and audio CSVs: ``root``'s sub-folders (not links), then ``root`` itself, and the CSVs in them
    (the sub-folders first: a dataset folder of several datasets is itself a "genre folder" of datasets)."""
    if root is None or not root.is_dir():
        return []
    folders = sorted(p for p in root.iterdir()
                     if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))[:SCAN_ENTRIES] + [root]
    found: list[Path] = []
    for folder in folders:
        if is_genre_folder(folder):
            found.append(folder)
        found += [p for p in sorted(folder.glob("*.csv")) if is_audio_csv(p)]
    return found


@st.cache_data(ttl=60, show_spinner=False, max_entries=32)
def _genres(path: str) -> dict[str, int]:
    return dict(Counter(t.label for t in discover(path)))


def choose_audio() -> AudioSource:
    """The source picker (keys ``train_audio_source``/``train_audio_path``); stops the page until one is usable."""
    rules = policy()
    root = data_dir()
    found = audio_sources(root)
    names = {str(p): (p.relative_to(root.parent).as_posix() if root is not None else p.name) for p in found}
    options = list(names) + ([] if rules.public else [TYPED])
    if not options:
        st.info("No labelled audio in the dataset folder: a folder with one sub-folder per genre, a path,label CSV "
                "or FMA's tracks.csv beside its audio.", icon=":material/folder_off:")
        st.stop()
    choice = st.selectbox("Labelled audio", options, key="train_audio_source", format_func=lambda o: names.get(o, o),
                          help="Genre folders (one sub-folder per genre), a CSV manifest path,label, or FMA-style "
                               "metadata (tracks.csv with genre_top) beside its audio. Any genres.")
    if choice == TYPED:
        typed = st.text_input("Path to the audio", key="train_audio_path",
                              placeholder="e.g. /data/fma_small/tracks.csv or /data/my_music")
        if not typed.strip():
            st.stop()
        choice = typed.strip()
    try:
        path = rules.check_path(Path(choice).expanduser())
        genres = _genres(str(path))
    except (AccessError, DatasetError, OSError) as exc:
        st.error(plain(str(exc)), icon=":material/block:")
        st.stop()
    return AudioSource(path, names.get(choice, str(path)) if rules.public else str(path), Counter(genres))


def workers(tracks: int) -> int:
    """Processes that read ``tracks`` tracks (``--workers``, not part of the recipe)."""
    return (os.cpu_count() or 1) if tracks >= POOL_FROM else 1


def cache_dir() -> Path:
    """This browser's patch cache (a second run on the same audio skips the patch features)."""
    base = Path(os.environ.get(CACHE_ENV) or REPO_ROOT / "data" / "cache")
    return base / hashlib.sha256(browser_key().encode()).hexdigest()[:16]

"""App settings shared by every page: the dataset folder (audio + feature tables)."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "CPUNK_DATA_DIR"  # set to "" to start without a dataset folder
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
_KEY = "dataset_folder"


def default_data_dir() -> str:
    """``$CPUNK_DATA_DIR`` when set (even empty), else ``../shared/data`` when it exists, else ``""``."""
    if DATA_DIR_ENV in os.environ:
        return os.environ[DATA_DIR_ENV]
    return str(DEFAULT_DATA_DIR) if DEFAULT_DATA_DIR.is_dir() else ""


def data_dir() -> Path | None:
    """The dataset folder chosen in the sidebar (or the default), or ``None`` when unset or missing."""
    value = (st.session_state.get(_KEY, default_data_dir()) or "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def dataset_sidebar() -> None:
    """The sidebar field that picks the dataset folder; called by app.py on every page."""
    with st.sidebar:
        value = st.text_input(
            "Dataset folder", value=default_data_dir(), key=_KEY,
            placeholder="e.g. /data/gtzan",
            help="A folder with audio (one sub-folder per genre) and feature tables. Pages use it for "
                 f"example clips and to play tracks. Default: ${DATA_DIR_ENV} or ../shared/data.",
        )
        if value.strip() and data_dir() is None:
            st.warning(f"Folder not found: `{value.strip()}`", icon=":material/folder_off:")

"""App settings shared by every page: the dataset folder (audio + feature tables) and the mode note."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.modes import ALLOWED_ENV
from ui.mode import policy

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "CPUNK_DATA_DIR"  # set to "" to start without a dataset folder
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
_KEY, _SHARED_KEY = "dataset_folder", "dataset_folder_shared"


def default_data_dir() -> str:
    """``$CPUNK_DATA_DIR`` when set (even empty), else ``../shared/data`` when it exists, else ``""``."""
    if DATA_DIR_ENV in os.environ:
        return os.environ[DATA_DIR_ENV]
    return str(DEFAULT_DATA_DIR) if DEFAULT_DATA_DIR.is_dir() else ""


def data_dir() -> Path | None:
    """The dataset folder chosen in the sidebar (or the default), or ``None`` when unset or missing.

    In public mode only a folder of the operator's allowlist (the sidebar picker; the first by default).
    """
    rules = policy()
    if rules.public:
        roots = rules.allowed_roots
        index = st.session_state.get(_SHARED_KEY, 0)
        return roots[index] if isinstance(index, int) and 0 <= index < len(roots) else (roots[0] if roots else None)
    value = (st.session_state.get(_KEY, default_data_dir()) or "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def folder_labels(roots: tuple[Path, ...]) -> list[str]:
    """What visitors see for the allowed folders: their names (numbered when two share one), never the path."""
    names = [root.name or "dataset" for root in roots]
    return [f"{name} ({i + 1})" if names.count(name) > 1 else name for i, name in enumerate(names)]


def dataset_sidebar() -> None:
    """The sidebar's dataset folder (a picker in public mode, a path field in lab mode); called by app.py."""
    rules = policy()
    with st.sidebar:
        if rules.public:
            labels = folder_labels(rules.allowed_roots)
            if labels:
                st.selectbox("Dataset folder", range(len(labels)), format_func=labels.__getitem__, key=_SHARED_KEY,
                             help="The folders this demo shares: example clips, feature tables and playback.")
            else:
                st.caption(f"This demo shares no dataset folder (the operator can list some in `{ALLOWED_ENV}`).")
            st.caption(":material/public: Public demo: shared folders only; models you train stay in your "
                       "session (download them to keep them).")
            return
        value = st.text_input(
            "Dataset folder", value=default_data_dir(), key=_KEY,
            placeholder="e.g. /data/gtzan",
            help="A folder with audio (one sub-folder per genre) and feature tables. Pages use it for "
                 f"example clips and to play tracks. Default: ${DATA_DIR_ENV} or ../shared/data.",
        )
        if value.strip() and data_dir() is None:
            st.warning(f"Folder not found: `{value.strip()}`", icon=":material/folder_off:")
        st.caption(f":material/science: Lab mode ({rules.reason}): any folder, saves to the shared model registry.")

"""Pick and read a feature table: shipped demo, a table in the dataset folder, a typed path (lab mode), or an upload."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.store import FeatureTableError, table_extent
from core.failures import failure_message
from core.modes import AccessError
from ui.loaders import DEMO_DIR, is_upload, load_table, save_upload, table_choices, version_of
from ui.mode import policy, readable, upload_allowed, upload_limit_message
from ui.plain import plain
from ui.settings import data_dir

PATH_CHOICE, UPLOAD_CHOICE = "Another file or store folder (path)…", "Upload a CSV or Parquet file…"


def choose_table(prefix: str, disabled: bool = False) -> tuple[Path, str]:
    """The source picker (widget keys start with ``prefix``): (path, label); stops the page until chosen.

    Public mode offers no typed path: only the demo tables, the shared dataset folder's tables and uploads.
    """
    public = policy().public
    files = table_choices(data_dir())
    labels = [f.label for f in files] + ([] if public else [PATH_CHOICE]) + [UPLOAD_CHOICE]
    choice = st.selectbox("Feature table", labels, key=f"{prefix}_source", disabled=disabled,
                          help="The demo table shipped with the app, tables in the dataset folder (sidebar), "
                               + ("" if public else "a Parquet store from `python -m core extract`, ")
                               + "or a published GTZAN CSV.")
    if choice == PATH_CHOICE:
        typed = st.text_input("Path to a feature table", key=f"{prefix}_path", disabled=disabled,
                              placeholder="features.parquet, a store folder, or features_30_sec.csv").strip()
        if not typed:
            st.info("Enter the path of a Parquet file, a store folder or a GTZAN feature CSV.")
            st.stop()
        return Path(typed).expanduser(), typed
    if choice == UPLOAD_CHOICE:
        upload = st.file_uploader("Feature table file", type=["csv", "parquet"], key=f"{prefix}_upload",
                                  disabled=disabled)
        if upload is None:
            st.info("Drop a feature table here: a Parquet file from `python -m core extract` or a "
                    "published GTZAN CSV (features_30_sec.csv / features_3_sec.csv).")
            st.stop()
        data = upload.getvalue()
        if not upload_allowed(hashlib.sha256(data).hexdigest()):
            st.error(upload_limit_message(), icon=":material/hourglass:")
            st.stop()
        return save_upload(upload.name, data), f"upload: {upload.name}"
    return readable(files[labels.index(choice)].path, DEMO_DIR), choice


def read_table(path: Path, purpose: str = "used") -> tuple[pd.DataFrame, float]:
    """The cached table and its version; a clear error (and the page stops) when it cannot be read.

    In public mode a message names the file only, never its folder on the server.
    """
    rules = policy()
    shown = path.name if rules.public else str(path)
    try:
        version = version_of(path)
        if rules.public and not path.is_dir():  # its size from metadata, before it is read
            extent = table_extent(path)
            rules.check_table(extent.rows, extent.bytes)
        return load_table(str(path), version), version
    except FileNotFoundError:
        st.error(f"Not found: {plain(shown)}")
    except AccessError as exc:
        st.error(f"This table cannot be {purpose}: {exc}", icon=":material/block:")
    except Exception as exc:  # a table that breaks the reader is refused like any bad table
        message = failure_message(exc, str(path), (FeatureTableError,), name_log=not rules.public)
        st.error(f"This table cannot be {purpose}: {plain(message.replace(str(path), shown))}")
    if is_upload(path):  # a refused upload is not kept
        path.unlink(missing_ok=True)
    st.stop()

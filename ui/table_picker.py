"""Pick and read a feature table: shipped demo, a table in the dataset folder, a typed path, or an upload."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.store import FeatureTableError
from ui.loaders import load_table, save_upload, table_files, version_of
from ui.settings import data_dir

PATH_CHOICE, UPLOAD_CHOICE = "Another file or store folder (path)…", "Upload a CSV or Parquet file…"


def choose_table(prefix: str, disabled: bool = False) -> tuple[Path, str]:
    """The source picker (widget keys start with ``prefix``): (path, label); stops the page until chosen."""
    files = table_files(data_dir())
    labels = [f.label for f in files] + [PATH_CHOICE, UPLOAD_CHOICE]
    choice = st.selectbox("Feature table", labels, key=f"{prefix}_source", disabled=disabled,
                          help="The demo table shipped with the app, tables in the dataset folder (sidebar), "
                               "a Parquet store from `python -m core extract`, or a published GTZAN CSV.")
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
        return save_upload(upload.name, upload.getvalue()), f"upload: {upload.name}"
    return files[labels.index(choice)].path, choice


def read_table(path: Path, purpose: str = "used") -> tuple[pd.DataFrame, float]:
    """The cached table and its version; a clear error (and the page stops) when it cannot be read."""
    try:
        version = version_of(path)
        return load_table(str(path), version), version
    except FileNotFoundError:
        st.error(f"Not found: `{path}`")
    except FeatureTableError as exc:
        st.error(f"This table cannot be {purpose}: {exc}")
    st.stop()

"""Models a public-mode visitor trained: kept for their browser session only, never in the shared registry.

Each session gets its own small registry folder under the system temp folder (an unguessable name
kept in ``st.session_state``), so :mod:`core.models.registry` saves and loads them as usual; the Classify
page lists them next to the shared models. A model downloads as a zip of ``model.keras`` and its
card ``model.json`` and its inference export ``model.onnx`` (the registry layout: unzip it into ``models/`` to use it elsewhere). Folders of
sessions older than a day are removed when a new session keeps its first model. A session holds at most
:attr:`core.modes.Limits.session_models` models: keeping one more removes the oldest, and the Train page says so.
"""

from __future__ import annotations

import io
import secrets
import shlex
import shutil
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from core.models import registry
from core.models.inference import EXPORT_FILE
from core.models.model_card import ModelCard

if TYPE_CHECKING:
    from core.keras_env import keras

ROOT = Path(tempfile.gettempdir()) / "classically-punk-sessions"
MAX_AGE_S = 24 * 3600
_KEY = "session_models_dir"


def _folder() -> Path:
    if _KEY not in st.session_state:
        ROOT.mkdir(parents=True, exist_ok=True)
        for old in ROOT.iterdir():
            if time.time() - old.stat().st_mtime > MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        st.session_state[_KEY] = str(ROOT / secrets.token_urlsafe(12))
    return Path(st.session_state[_KEY])


def models() -> list[registry.ModelInfo]:
    """This session's models (none until it keeps one)."""
    return registry.list_models(st.session_state[_KEY]) if _KEY in st.session_state else []


def keep(name: str, model: keras.Model, card: ModelCard, limit: int) -> tuple[registry.ModelInfo, list[str]]:
    """Save ``model`` for this session (replacing one of the same name), keeping its ``limit`` newest models;
    returns its info and the names of the older models removed to make room (oldest first). The card's
    command names its files without their server folders."""
    folder = _folder()
    command = shlex.join(Path(part).name if part.startswith("/") else part for part in shlex.split(card.command))
    info = registry.save_model(name, model, replace(card, command=command), folder, overwrite=True)
    kept = sorted(registry.list_models(folder), key=lambda i: (i.path / registry.MODEL_FILE).stat().st_mtime)
    for old in kept[:-limit]:
        shutil.rmtree(old.path, ignore_errors=True)
    return info, [old.name for old in kept[:-limit]]


def archive(info: registry.ModelInfo) -> bytes:
    """The model as a zip: ``<name>/model.keras``, ``<name>/model.json`` and its inference export when it has one."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in (registry.MODEL_FILE, registry.META_FILE, EXPORT_FILE):
            if (info.path / file).is_file():
                zf.write(info.path / file, f"{info.name}/{file}")
    return buffer.getvalue()

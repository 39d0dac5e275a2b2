"""Cached model loading and clip analysis for the Classify page.

The model is loaded once per process and model version (``st.cache_resource``). An analysis is keyed
by the clip's SHA-256 and the model (name + version), never by the file name or widget state, so
reruns, widget changes and re-uploads of the same audio never recompute it. Analyses live in one
process-wide store of the most recent within :data:`RESULTS_MB` (shared read-only by all sessions, never
copied), so the page can ask whether a clip is done (:func:`cached`) and show a new analysis's
progress as it runs (``st.cache_data`` would replay those progress elements on every cache hit).
A server warms the analysis up once, in the background, after its first page is shown (:func:`warm_up`): the
default model is loaded and a generated clip classified before the first upload, which then waits for neither.
In public mode at most ``Limits.max_analyses`` analyses run at once on the whole server; past that a
visitor is told the demo is busy, and nothing is stored (:func:`analyse`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import streamlit as st

from core.audio import opens_as_audio
from core.failures import failure_message
from core.features.schema import GENRES
from core.memory import ByteLRU
from core.models.registry import (
    META_FILE,
    MODEL_FILE,
    LoadedModel,
    ModelInfo,
    default_name,
    load_model,
    model_info,
    models_dir,
    recover,
)
from core.modes import AccessError, Slots
from core.predict import Classification, Progress, classify
from ui.loaders import audio_index
from ui.mode import policy

ModelKey = tuple[str, float, str]  # (name, version stamp of its files, its registry folder)
RESULTS_MB = 256  # the shared analyses kept (a 10-minute song's is ~53 MB, a 30-s clip's ~3 MB)
ANALYSES = Slots()  # analyses running now, on the whole server
WARM_UP_ENV = "CPUNK_WARM_UP"  # "0": no warm-up (the first upload loads the model)
WARM_UP_SECONDS = 30.0  # the generated clip the warm-up classifies: a typical upload (the same network batches)
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """One recording to classify: a display name, its bytes and, for dataset examples, the known genre."""

    name: str
    data: bytes = field(repr=False)
    label: str | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def model_key(info: ModelInfo) -> ModelKey:
    """The cache key of a registered model: its name, the newest modification time of its files, its registry."""
    return info.name, max((info.path / f).stat().st_mtime for f in (MODEL_FILE, META_FILE)), str(info.path.parent)


@st.cache_resource(show_spinner=False)
def recovered(root: str) -> list[str]:
    """Start-up recovery of the models directory ``root`` (:func:`core.models.registry.recover`), once per
    process: the models a killed save had moved aside are back before any page lists them."""
    return recover(root)


def recover_registry() -> None:
    """:func:`recovered` for the models directory in use."""
    recovered(str(models_dir()))


@st.cache_resource(max_entries=4, show_spinner=False)  # the page's progress bar says "Loading the model…"
def model(key: ModelKey) -> LoadedModel:
    """:func:`core.models.registry.load_model`, once per process and model version (raises RegistryError)."""
    return load_model(key[0], key[2])


def warm_up() -> None:
    """Start :func:`warm_analysis` in a background thread, once per server process (a no-op after that, in
    AppTest and with ``CPUNK_WARM_UP=0``). Called after a page has run, so it never delays a page's first render."""
    if _serving() and os.environ.get(WARM_UP_ENV, "").strip() != "0":
        _warm_up_thread()


def _serving() -> bool:
    """Whether this page run answers a browser's request to a Streamlit server: only then does it carry the
    request's headers (``st.context.headers``; AppTest's runs and bare scripts have none)."""
    return bool(st.context.headers)


@st.cache_resource(show_spinner=False)
def _warm_up_thread() -> threading.Thread:
    # not a daemon: a process that ends while it runs waits for it (OpenVINO aborts a daemon thread that is
    # inside an inference call when the interpreter exits)
    thread = threading.Thread(target=warm_analysis, name="analysis-warm-up")
    thread.start()
    return thread


def warm_analysis() -> float | None:
    """Load the default model into :func:`model`'s cache and classify a generated clip of :data:`WARM_UP_SECONDS`
    with it, reasons included (the result is dropped, not stored), so that the first upload finds the model loaded and the
    first calls of the runtime and of the analysis's libraries done. Returns the seconds it took, or None when
    there is no default model or it failed; never raises (the traceback goes to the server log, and the first
    upload then loads the model itself, as without a warm-up)."""
    start = time.perf_counter()
    try:
        name = default_name()
        if name is None:
            return None
        classify(io.BytesIO(warm_up_clip()), model(model_key(model_info(name))))
    except Exception:  # a warm-up that fails changes nothing for the visitors
        _LOG.exception("the analysis warm-up failed")
        return None
    return time.perf_counter() - start


def warm_up_clip(seconds: float = WARM_UP_SECONDS, sr: int = 22_050) -> bytes:
    """A WAV of ``seconds`` of generated music-like sound: a chord pulsing twice a second over faint noise."""
    t = np.arange(int(seconds * sr)) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    pulse = 0.5 + 0.5 * np.cos(2 * np.pi * 2.0 * t) ** 2
    y = 0.2 * chord * pulse + 0.01 * np.random.default_rng(0).standard_normal(len(t))
    out = io.BytesIO()
    sf.write(out, y.astype(np.float32), sr, format="WAV")
    return out.getvalue()


@st.cache_resource
def _results() -> ByteLRU:
    """The shared analyses: (clip digest, model key) -> result or error message."""
    return ByteLRU(RESULTS_MB * 1e6)


def cached(clip: Clip, key: ModelKey) -> Classification | str | None:
    """The stored analysis of ``clip`` with the model ``key``, or None when it has not been analysed."""
    return _results().get((clip.digest, key))


def busy_message(limit: int) -> str:
    return (f"The demo is busy with other visitors' songs (it analyses {limit} at a time on the whole server). "
            "Try again in a moment.")


def analyse(clip: Clip, key: ModelKey, progress: Callable[[Progress], None] | None = None) -> Classification | str:
    """The classification of ``clip``, or the reason it cannot be analysed; computed once (``progress``
    hears how a new analysis goes: :func:`core.predict.classify`). When the server already runs its limit of
    analyses (public mode) the answer is :func:`busy_message`, not stored, so a later rerun tries again."""
    found = cached(clip, key)
    if found is not None:
        return found
    rules = policy()
    with ANALYSES.take(rules.max_analyses) as running:
        if not running:
            return busy_message(rules.limits.max_analyses)
        source = io.BytesIO(clip.data)
        source.name = "This file"  # the loader starts its messages with the source's name
        try:
            outcome: Classification | str = classify(source, model(key), progress=progress)
        except Exception as exc:  # one clip's failure is its message; the traceback goes to the server log
            outcome = failure_message(exc, f"clip {clip.digest[:12]}", name_log=not rules.public)
    return _results().put((clip.digest, key), outcome)


def example_files(root: Path) -> list[Path] | None:
    """Audio files under the dataset folder ``root`` (one per file name) that open as audio, sorted by path
    (a file whose header cannot be read is never offered as an example); None while scanning."""
    index = audio_index(root)
    return None if index is None else _openable(tuple(sorted(index.by_stem.values())))


@st.cache_resource(max_entries=2, show_spinner="Looking for example clips…")
def _openable(files: tuple[Path, ...]) -> list[Path]:
    return [path for path in files if opens_as_audio(path)]


def neighbour_audio(root: Path | None, track_id: str) -> Path | str:
    """The audio of a training track (``blues/blues.00000``) under the dataset folder ``root`` when it is there
    and this mode lets a visitor hear it (public mode: allowed folders only); otherwise why not, in words."""
    index = audio_index(root) if root else None
    if root and index is None:
        return "Still looking for audio in the dataset folder."
    found = index.locate("", track_id) if index else None
    try:
        if found is not None:
            return policy().check_path(found)
    except AccessError:
        pass
    return "Audio not under the dataset folder (sidebar), so it cannot be played."


def known_genre(path: Path) -> str | None:
    """The genre a dataset file is labelled with (its folder's name), when that is a GTZAN genre."""
    return path.parent.name if path.parent.name in GENRES else None

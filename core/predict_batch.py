"""Classify many files into one results table: ``python -m core predict`` with the local engine.

:func:`predict_files` gives one row per file (:func:`file_row`: :func:`summary_row` of
:func:`core.predict.classify`, or the file's error); one bad file never stops the batch. With
``workers`` > 1 the files are classified in one-process pools, so that a worker that dies costs only its
file (:data:`WORKER_DIED`). :func:`audio_files` expands folders and CSV manifests into the files named.
The Dask engine (:mod:`core.predict_dask`) reuses the rows and the columns.
"""

from __future__ import annotations

import os
import posixpath
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

import numpy as np
import pandas as pd

from core import storage
from core.audio import AnalysisLimit
from core.data.dataset import init_worker, manifest_files, pool_context
from core.data.metadata import AUDIO_EXTENSIONS
from core.failures import failure_message
from core.models.inference import set_threads
from core.models.registry import LoadedModel, load_model
from core.predict import Classification, classify


def audio_files(paths: list[str]) -> list[str]:
    """The files named (local or URLs), with folders expanded (recursively, audio extensions only, sorted)
    and CSV manifests read (their ``path`` column: :func:`core.data.dataset.manifest_files`)."""
    out: list[str] = []
    for p in paths:
        if storage.is_dir(p):
            out += [str(f) for f, rel in storage.find(p) if posixpath.splitext(rel)[1].lower() in AUDIO_EXTENSIONS]
        elif storage.name(p).lower().endswith(".csv"):
            out += manifest_files(p)
        else:
            out.append(str(p))
    return out


def predict_files(paths: list[str], model: LoadedModel, *, limit: AnalysisLimit = AnalysisLimit(),
                  progress: Callable[[str], None] | None = None, workers: int = 1) -> pd.DataFrame:
    """One row per file, in the order given: music or not, genre, confidence, top 3, every genre's probability,
    or the error.

    Bad files never stop the batch: their row has an empty genre and the reason in ``error``.
    ``workers`` > 1 classifies in that many processes (each loads the model once, with one thread);
    ``progress`` hears each file as it finishes.
    """
    workers = max(1, min(workers, len(paths)))
    if workers == 1:
        rows = []
        for path in paths:
            rows.append(file_row(path, model, limit))
            if progress is not None:
                progress(path)
    else:
        rows = _pool_rows(paths, model, limit, progress, workers)
    return pd.DataFrame(rows, columns=["path", *summary_columns(model.classes)])


def failed_row(path: str, message: str) -> dict[str, object]:
    """The results-table row of a file that could not be classified: an empty genre and the reason."""
    return {"path": path, "genre": "", "confidence": np.nan, "error": message}


def file_row(path: str, model: LoadedModel, limit: AnalysisLimit) -> dict[str, object]:
    """The results-table row of one file (:func:`summary_row`); never raises. A file that fails has an empty
    genre and the reason in ``error`` (:func:`core.failures.failure_message`); numeric warnings join the
    loader's in ``warnings``."""
    row: dict[str, object] = {"path": path}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            row.update(summary_row(classify(path, model, limit=limit)))
        except Exception as exc:  # one file's failure, whatever it is, is that file's row
            row = failed_row(path, failure_message(exc, path))
    for w in caught:  # other warnings (deprecations) are for developers: shown as usual
        if not issubclass(w.category, RuntimeWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    noted = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught
                               if issubclass(w.category, RuntimeWarning)))
    if noted:
        row["warnings"] = " ".join(filter(None, [str(row.get("warnings", "")), *noted]))
    return row


_worker_model: LoadedModel | None = None
WORKER_DIED = ("the analysis process ended unexpectedly (it crashed or ran out of memory) while reading this "
               "file; the other files were not affected")


def _init_predict_worker(main_pid: int, environ: dict[str, str], name: str, root: str) -> None:
    """Process-pool initializer: one thread per library, then the model, loaded once per worker."""
    init_worker(main_pid, environ)
    set_threads(1)
    global _worker_model
    _worker_model = load_model(name, root)


def _worker_row(path: str, limit: AnalysisLimit) -> dict[str, object]:
    assert _worker_model is not None, "the pool's initializer loads the model"
    return file_row(path, _worker_model, limit)


def _pool_rows(paths: list[str], model: LoadedModel, limit: AnalysisLimit, progress: Callable[[str], None] | None,
               workers: int) -> list[dict[str, object]]:
    """Classify in ``workers`` one-process pools, one file in each at a time, so that a worker that dies
    (a crash in a decoder, out of memory) is known by its file: that file gets the error row and its pool is
    replaced for the rest of the batch."""
    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(1, mp_context=pool_context(), initializer=_init_predict_worker,
                                   initargs=(os.getpid(), dict(os.environ), model.name, str(model.info.path.parent)))

    rows: list[dict[str, object]] = [{} for _ in paths]
    todo = iter(range(len(paths)))
    running: dict[Future, tuple[ProcessPoolExecutor, int]] = {}

    def start(pool: ProcessPoolExecutor) -> None:
        if (i := next(todo, None)) is None:
            pool.shutdown()
        else:
            running[pool.submit(_worker_row, paths[i], limit)] = pool, i

    try:
        for _ in range(workers):
            start(new_pool())
        while running:
            for future in wait(running, return_when=FIRST_COMPLETED).done:
                pool, i = running.pop(future)
                try:
                    rows[i] = future.result()
                except BrokenProcessPool:
                    rows[i] = failed_row(paths[i], WORKER_DIED)
                    pool.shutdown()
                    pool = new_pool()
                if progress is not None:
                    progress(paths[i])
                start(pool)
    finally:
        for pool, _ in running.values():
            pool.shutdown(cancel_futures=True)
    return rows


def music_label(result: Classification) -> str:
    """``music`` or ``not music`` as the model's music detector heard the recording; empty without a detector."""
    return "" if result.is_music is None else "music" if result.is_music else "not music"


def summary_row(result: Classification) -> dict[str, object]:
    """One result as a results-table row: music or not, genre, confidence (the chance that the verdict is right
    as worded: calibrated when the model's card has a calibration), the verdict in words, ``novel`` (unlike the
    genres it knows; empty when the model cannot tell), top 3, every genre's probability, analysed part, loader warnings and an empty ``error``
    (columns: :func:`summary_columns`). A recording that does not sound like music gets no genre: those
    columns stay empty."""
    said = result.verdict()
    row: dict[str, object] = {"music": music_label(result), "verdict": said.text}
    if result.is_music is not False:
        row.update({"genre": result.genre, "confidence": np.nan if said.probability is None else round(said.probability, 4),
                    "novel": "" if result.novelty is None else result.novelty.novel,
                    "top3": ", ".join(f"{g} {p:.2f}" for g, p in result.top(3))})
        row.update({f"p_{c}": round(float(p), 4) for c, p in zip(result.classes, result.probabilities)})
    else:
        row.update({"genre": "", "confidence": np.nan, "novel": "", "top3": ""})
    row.update(analysed=result.analysed(), warnings=" ".join(result.audio.warnings), error="")
    return row


def summary_columns(classes: tuple[str, ...]) -> list[str]:
    """The columns of :func:`summary_row` (and of :func:`predict_files` after ``path``)."""
    return ["music", "genre", "confidence", "verdict", "novel", "top3", *(f"p_{c}" for c in classes), "analysed", "warnings",
            "error"]

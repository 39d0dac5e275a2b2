"""Classify a whole library on a Dask cluster: ``python -m core predict PATH... --engine dask [--scheduler ADDRESS]``.

Each file is one task (:func:`worker_row`, the local engine's :func:`core.predict_batch.file_row`); each worker
process loads the model once, on its first task, and keeps it (:func:`_worker_model`). The client writes
the rows as they come into a *results store*, the store directory of :mod:`core.data.store` (a manifest
naming the model and the analysis limit, ``parts/part-NNNN.parquet`` of result rows keyed by the
file's absolute path or URL, ``errors.parquet`` of the files that failed), every ``part_files`` rows
or :data:`core.data.dataset.PART_SECONDS` (:class:`core.data.dataset.PartWriter`, as extraction). So:

- a client killed mid-run loses at most the unsaved rows; the same command run again classifies only the
  files without a row (and retries the failed ones), and no file ever gets two rows;
- a worker killed mid-run costs nothing: Dask runs its task again on another worker. A file whose
  workers keep dying (:class:`distributed.KilledWorker`, after ``distributed.scheduler.allowed-failures``
  deaths) gets the local engine's "the analysis process ended unexpectedly" row;
- one bad file is its error row, as with the local engine.

:func:`read_results` gives the local engine's table (same columns, the files' order, their paths as
given) from the store. The audio must be where every worker can read it (one machine, a shared file
system under the same absolute paths, or an object store); the model is read from the same registry
folder (the same absolute path) on every worker, and a worker whose model differs from the client's
refuses to work. The store is written by the client only, so it may be anywhere the client can write.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
from distributed import KilledWorker, as_completed

from core import storage
from core.atomic import remove_temporaries
from core.audio import AnalysisLimit
from core.data.dask_engine import WorkersLostError, connect
from core.data.dataset import PartWriter
from core.data.metadata import DatasetError
from core.data.store import done_keys, open_folder, read_errors, read_parts
from core.models.inference import set_threads
from core.models.registry import LoadedModel, RegistryError, load_model
from core.predict_batch import WORKER_DIED, failed_row, file_row, summary_columns

PART_FILES = 50  # rows per saved part: a killed client redoes at most this many files (or PART_SECONDS of work)
KIND = "results store"


@dataclass
class PredictSummary:
    """What a run did: files classified now, failed now, already in the store; wall seconds."""

    total: int
    classified: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0


def fingerprint(model: LoadedModel) -> str:
    """A short hash of the model's card (``model.json``): which model, down to its training run."""
    return hashlib.sha256(json.dumps(model.info.card.to_json(), sort_keys=True).encode()).hexdigest()[:16]


def file_key(path: str) -> str:
    """The store's key of a file: its URL, or its absolute path (workers may run in other folders)."""
    return path if storage.is_url(path) else os.path.abspath(path)


@lru_cache(maxsize=1)
def _worker_model(name: str, root: str, expected: str) -> LoadedModel:
    """Worker side: the model, loaded on the first task and kept (one thread: a worker is one core)."""
    set_threads(1)
    model = load_model(name, root)
    if fingerprint(model) != expected:
        raise RegistryError(f"Model {name!r} in {root} on this Dask worker is not the client's (its model.json "
                            "differs); give every worker the same models folder.")
    return model


def worker_row(path: str, name: str, root: str, expected: str, limit: AnalysisLimit) -> dict[str, object]:
    """Worker side: the results-table row of one file (:func:`core.predict_batch.file_row`; never raises for the file)."""
    return file_row(path, _worker_model(name, root, expected), limit)


def open_results(store: str | os.PathLike, model: LoadedModel, limit: AnalysisLimit) -> storage.Location:
    """Create the results store, or check that it holds this model's results under this analysis limit."""
    settings = {"results_of": model.name, "model_card_sha256": fingerprint(model), "max_seconds": limit.max_seconds,
                "offset_s": limit.offset_s, "max_windows": limit.max_windows}
    root = open_folder(store, settings, KIND)
    if not storage.is_url(root):  # an object store never holds temporaries (core.storage.write_bytes)
        remove_temporaries(root, recursive=True)
    return root


def predict_on_dask(files: list[str], model: LoadedModel, store: str | os.PathLike, *,
                    limit: AnalysisLimit = AnalysisLimit(), scheduler: str | None = None, workers: int = 1,
                    part_files: int = PART_FILES, progress: Callable[[int, int], None] | None = None) -> PredictSummary:
    """Classify the ``files`` not yet in the results ``store`` on the Dask scheduler at ``scheduler`` (or a
    local cluster of ``workers`` processes), saving their rows into it as they come.

    ``progress(done, total)`` hears each file as it finishes (``done`` counts those already in the store).
    Raises :class:`core.data.dataset.DatasetError` when the scheduler cannot be reached or a worker cannot
    load the model, :class:`core.data.dask_engine.WorkersLostError` when tasks were lost; what finished
    is saved either way.
    """
    start = time.perf_counter()
    root = open_results(store, model, limit)
    keys = list(dict.fromkeys(file_key(f) for f in files))
    done = done_keys(root, "path")
    errors = {r.path: (r.path, r.reason) for r in read_errors(root).itertuples() if r.path not in done}
    todo = [k for k in keys if k not in done]
    summary = PredictSummary(total=len(keys), skipped=len(keys) - len(todo))
    columns = ["path", *summary_columns(model.classes)]
    parts = PartWriter(root, errors, part_files)
    if progress:
        progress(summary.skipped, summary.total)
    lost: list[str] = []
    if todo:
        with connect(scheduler, workers) as client:
            futures = client.map(worker_row, todo, name=model.name, root=str(model.info.path.parent.resolve()),
                                 expected=fingerprint(model), limit=limit, pure=False)
            paths = dict(zip(futures, todo))
            try:
                for future in as_completed(futures):
                    path = paths.pop(future)
                    if future.status == "finished":
                        row = future.result()
                    elif future.status == "error" and isinstance(future.exception(), KilledWorker):
                        row = failed_row(path, WORKER_DIED)
                    elif future.status == "error":
                        raise DatasetError(f"A Dask worker failed ({future.exception()}); what finished is saved.")
                    else:  # cancelled: the scheduler lost it
                        lost.append(path)
                        continue
                    if row["error"]:
                        errors[path] = (path, str(row["error"]))
                        summary.failed += 1
                    else:
                        errors.pop(path, None)
                        parts.add(pd.DataFrame([row], columns=columns))
                        summary.classified += 1
                    parts.save_if_due()
                    if progress:
                        progress(summary.skipped + summary.classified + summary.failed, summary.total)
            finally:
                client.cancel(list(paths))
                parts.save()
    summary.seconds = time.perf_counter() - start
    if lost:
        raise WorkersLostError(f"{len(lost)} files were not classified because the Dask scheduler lost their tasks "
                               f"(first: {lost[0]}); what finished is saved; rerun the same command to continue.")
    return summary


def read_results(store: str | os.PathLike, files: list[str], classes: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``files`` in the results ``store``, in the files' order with their paths as given: the
    table :func:`core.predict_batch.predict_files` makes (failed files: an empty genre and the reason)."""
    columns = ["path", *summary_columns(classes)]
    classified = read_parts(store, ["path"])
    failed = pd.DataFrame([failed_row(path, reason) for path, reason in
                           read_errors(store)[["path", "reason"]].itertuples(index=False)], columns=columns)
    rows = pd.concat([t for t in (classified, failed) if t is not None and len(t)] or [failed], ignore_index=True)
    keys = [file_key(f) for f in files]
    missing = sorted(set(keys) - set(rows["path"]))
    if missing:
        raise DatasetError(f"The {KIND} {store} has no row for {len(missing)} of the files (first: {missing[0]}); "
                           "rerun the same command to classify them.")
    table = rows.drop_duplicates("path", keep="first").set_index("path").loc[keys].reset_index()
    return table.assign(path=list(files))[columns]

"""Extraction on a Dask cluster: ``python -m core extract DATA --out STORE --engine dask [--scheduler ADDRESS]``.

The same per-file function (:func:`core.data.dataset.extract_track`), store layout and bookkeeping
(:func:`core.data.dataset.record_result`, :mod:`core.data.store`) as the local process pool. The tracks go to
the workers in batches of ``part_tracks``; a worker extracts its batch and writes it straight into the
store as one part whose number the client chose, so a batch that Dask runs again after its worker
died replaces its own part instead of adding a second copy. Only a row-less summary of each track comes
back; the client keeps the errors table and reports progress as futures complete
(:func:`distributed.as_completed`). The store and the audio must therefore be where every worker can
reach them: one machine, a file system shared by all of them, or an object store (``s3://...``,
``gs://...``; :mod:`core.storage`), which workers read and write directly with their own credentials.

Without a scheduler address, a :class:`distributed.LocalCluster` of ``workers`` single-threaded
processes is started for the run (its log messages below errors silenced) and closed after it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import dask
import pandas as pd
from distributed import Client, Future, LocalCluster, as_completed

from core.data.dataset import DatasetError, Engine, ExtractSummary, Progress, Track, TrackResult, errors_table, extract_track, record_result
from core.data.store import next_part_number, write_errors, write_part
from core.features.schema import FeatureSchema
from core.storage import Location, is_url

CONNECT_TIMEOUT_S = 30
# A local cluster shares the client's cores, so its housekeeping is slowed down: no statistical profiler
# (it samples each worker's stack every 10 ms; the dashboard that shows it is off), event-loop and memory
# checks every second instead of every 20 and 100 ms, no work stealing (the tasks are independent and
# queued on the scheduler): on a busy machine the defaults' idle CPU adds up over a long run.
LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
                       "distributed.worker.memory.monitor-interval": "1s",
                       "distributed.admin.system-monitor.interval": "2s", "distributed.scheduler.work-stealing": False}


class WorkersLostError(DatasetError):
    """Some batches could not be finished because their workers kept dying; what finished is saved."""


def extract_batch(tracks: list[Track], schema_id: str, max_slices: int | None, root: str,
                  number: int) -> list[TrackResult]:
    """Worker side: extract ``tracks``, save their rows as part ``number`` of the store ``root``, and
    return their results without the rows (an empty frame marks success, ``None`` a failure)."""
    results = [extract_track(track, schema_id, max_slices) for track in tracks]
    rows = [r.rows for r in results if r.rows is not None]
    if rows:
        write_part(root, pd.concat(rows, ignore_index=True), number)
    return [r if r.rows is None else replace(r, rows=r.rows.iloc[:0]) for r in results]


def dask_engine(scheduler: str | None = None) -> Engine:
    """An engine for :func:`core.data.dataset.extract_dataset` that runs on the Dask scheduler at
    ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``), or on a local cluster of ``workers`` processes."""
    return partial(run_on_dask, scheduler=scheduler)


@contextmanager
def connect(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster of ``workers`` processes."""
    if scheduler is None:
        with dask.config.set(LOCAL_WORKER_CONFIG):  # the scheduler and workers read it as they start
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
                yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise DatasetError(f"Cannot reach the Dask scheduler at {scheduler} ({exc}); start it with "
                           "`dask scheduler` and its workers with `dask worker ADDRESS`.") from None
    with client:
        yield client


def run_on_dask(todo: list[Track], root: Location, schema: FeatureSchema, max_slices: int | None, workers: int,
                part_tracks: int, summary: ExtractSummary, errors: dict[str, tuple[str, str]],
                progress: Progress | None, *, scheduler: str | None = None) -> None:
    """The :class:`core.data.dataset.Engine` behind :func:`dask_engine` (``workers`` only sizes a local cluster)."""
    # workers may run elsewhere: never relative to our working directory
    store = root if is_url(root) else str(Path(root).resolve())
    first = next_part_number(root)
    batches = [todo[i:i + part_tracks] for i in range(0, len(todo), part_tracks)]
    lost: list[Track] = []
    with connect(scheduler, workers) as client:
        futures: dict[Future, list[Track]] = {
            client.submit(extract_batch, batch, schema.id, max_slices, store, first + i, pure=False): batch
            for i, batch in enumerate(batches)}
        try:
            for future in as_completed(list(futures)):
                batch = futures.pop(future)
                if future.status != "finished":  # e.g. KilledWorker: its workers died too often
                    lost += batch
                    continue
                for result in future.result():
                    record_result(result, summary, errors)
                write_errors(root, errors_table(errors))
                if progress:
                    progress(summary.skipped + summary.extracted + len(summary.errors), summary.total)
        finally:
            client.cancel(list(futures))
            write_errors(root, errors_table(errors))
    if lost:
        raise WorkersLostError(
            f"{len(lost)} files were not analysed because the Dask workers running them died repeatedly "
            f"(first: {lost[0].track_id}); what finished is saved; rerun the same command to continue.")


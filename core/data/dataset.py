"""Datasets: find the tracks, extract their features in parallel into a resumable store directory.

:func:`discover` lists the tracks of a GTZAN-style folder (one sub-folder per genre) or of a CSV
manifest ``path,label``. :func:`extract_dataset` analyses them in a process pool and saves the rows
part by part (:mod:`core.data.store`), so a rerun after a crash, even ``kill -9``, only does what is
missing. A file that cannot be analysed is recorded in the store's errors table and the run goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd
import psutil

from core import storage
from core.atomic import remove_temporaries
from core.audio import load_audio
from core.data.metadata import AUDIO_EXTENSIONS, DatasetError, Track, genre_label, is_metadata_csv, read_metadata
from core.data.store import ERROR_COLUMNS, done_keys, open_store, read_errors, write_errors, write_part
from core.failures import failure_message
from core.features.extract import extract
from core.features.schema import FeatureSchema, get_schema

PART_TRACKS = 50  # tracks per part file: a crash loses at most this many tracks' work
PART_SECONDS = 30.0  # ... or this many seconds of work, whichever comes first
# Thread pools each worker process limits to one thread (the pool itself provides the parallelism).
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

Progress = Callable[[int, int], None]


@dataclass
class ExtractSummary:
    """What a run did: tracks extracted now, skipped (already in the store), failed, and warnings;
    ``seconds`` of wall time and ``cpu_seconds`` the workers spent on the tracks (not on starting up)."""

    total: int
    extracted: int = 0
    skipped: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (track_id, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (track_id, warning)
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def _label(name: str, where: str) -> str:
    label = genre_label(name)
    if label is None:
        raise DatasetError(f"{where}: no genre label.")
    return label


def discover(path: str | os.PathLike) -> list[Track]:
    """The tracks of a folder with one sub-folder per genre, of a CSV manifest ``path,label``, or of a
    metadata CSV ``track_id,path,genre`` / FMA ``tracks.csv`` (:mod:`core.data.metadata`); each may be local
    or a URL (``s3://bucket/gtzan``; :mod:`core.storage`).

    Track ids are relative paths without extension (posix style), sorted; labels are genres in lower case, any
    set of them (:func:`core.data.metadata.genre_label`).
    """
    path = storage.location(path)
    is_dir = storage.is_dir(path)
    loose = False  # audio files directly in the folder, not in genre sub-folders
    if is_dir:
        tracks, loose = _discover_folder(path)
    elif storage.name(path).lower().endswith(".csv") and storage.is_file(path):
        tracks = _discover_manifest(path)
    else:
        raise DatasetError(f"{path}: expected a folder with one sub-folder per genre, or a CSV manifest (path,label).")
    if not tracks and loose:
        raise DatasetError(f"{path}: put the audio files in one sub-folder per genre (blues/, classical/, ...), "
                           "or list them in a CSV manifest with the columns path,label.")
    if not tracks:
        raise DatasetError(f"{path}: no audio files found (looked for {', '.join(sorted(AUDIO_EXTENSIONS))}).")
    ids = pd.Series([t.track_id for t in tracks])
    repeated = sorted(set(ids[ids.duplicated()]))
    if repeated:
        raise DatasetError(f"{path}: several files share the track id {', '.join(repeated[:5])} "
                           "(same name, different extension); keep one of them.")
    return sorted(tracks, key=lambda t: t.track_id)


def _discover_folder(root: storage.Location) -> tuple[list[Track], bool]:
    """The tracks in genre sub-folders of ``root``, and whether audio files lie directly in ``root``."""
    tracks, loose = [], False
    for file, rel in storage.find(root):
        stem, ext = posixpath.splitext(rel)
        if ext.lower() not in AUDIO_EXTENSIONS:
            continue
        if "/" not in rel:
            loose = True
            continue
        sub = rel.split("/", 1)[0]
        if not sub.startswith("."):
            tracks.append(Track(stem, str(file), _label(sub, f"{root}/{sub}")))
    return tracks, loose


def _manifest_table(manifest: storage.Location) -> pd.DataFrame:
    try:
        with storage.open_input(manifest) as handle:
            return pd.read_csv(handle, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{storage.name(manifest)} is not a readable CSV file ({exc}).") from None
    except FileNotFoundError:
        raise DatasetError(f"{manifest}: no such file.") from None


def manifest_files(manifest: str | os.PathLike) -> list[str]:
    """The files a CSV manifest lists in its ``path`` column (relative to the CSV's folder, absolute, or
    URLs), in its order; other columns are ignored."""
    manifest = storage.location(manifest)
    table = _manifest_table(manifest)
    if "path" not in table.columns:
        raise DatasetError(f"{storage.name(manifest)} has no 'path' column (the files to classify).")
    base = storage.parent(manifest)
    return [str(storage.resolve(base, rel)) for rel in table["path"] if rel.strip()]


def _discover_manifest(manifest: storage.Location) -> list[Track]:
    name = storage.name(manifest)
    table = _manifest_table(manifest)
    if is_metadata_csv(table):
        return read_metadata(manifest)
    missing = [c for c in ("path", "label") if c not in table.columns]
    if missing:
        raise DatasetError(f"{name} needs the columns path,label; missing: {', '.join(missing)}.")
    base = storage.parent(manifest)
    tracks = []
    for row, (rel, label) in enumerate(zip(table["path"], table["label"]), start=2):
        if not rel.strip():
            raise DatasetError(f"{name}, line {row}: empty path.")
        file = storage.resolve(base, rel)
        track_id = posixpath.splitext(storage.relative_to(file, base) or rel.split("://")[-1])[0].lstrip("/")
        tracks.append(Track(track_id, str(file), _label(label, f"{name}, line {row}")))
    return tracks


def init_worker(main_pid: int, environ: dict[str, str] | None = None) -> None:
    """Process-pool initializer: the main process's ``environ`` when given (as it was when the pool started, not
    when the fork server did: credentials, ``PATH``, the log file), one BLAS/OpenMP/numba thread per worker, and
    exit with the main process.

    A worker whose main process was killed (``kill -9``) would otherwise wait for work forever (and,
    holding the fork server's lifeline, keep that alive too).
    """
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    for name in THREAD_ENV:
        os.environ[name] = "1"
    from threadpoolctl import (
        threadpool_limits,  # for libraries the worker had already loaded
    )
    threadpool_limits(1)
    threading.Thread(target=_exit_with, args=(main_pid,), daemon=True).start()


def _exit_with(pid: int) -> None:
    try:
        main = psutil.Process(pid)
        while main.is_running() and main.status() != psutil.STATUS_ZOMBIE:
            time.sleep(1.0)
    except psutil.Error:
        pass
    os._exit(1)


def pool_context() -> multiprocessing.context.BaseContext:
    """'forkserver' where available: the libraries are imported once, and each worker is a cheap fork
    of that clean server process (not of the caller, which may hold threads or a GUI); else 'spawn'."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


@dataclass(frozen=True)
class TrackResult:
    """What a worker returns for one track: its rows, or why it failed; warnings; CPU seconds spent."""

    track: Track
    rows: pd.DataFrame | None
    reason: str = ""
    warnings: tuple[str, ...] = ()
    cpu_s: float = 0.0


def extract_track(track: Track, schema_id: str, max_slices: int | None) -> TrackResult:
    """Decode and analyse one track. Never raises: a failure is a result with its reason."""
    start = time.process_time()
    try:
        audio = load_audio(track.path)
        rows = extract(audio.y, audio.sr, get_schema(schema_id), max_slices=max_slices)
        table = rows.table(track.track_id, track.path, track.label)
        warnings = audio.warnings + ((f"only {audio.analysed_part()} was analysed",) if audio.partial else ())
        return TrackResult(track, table, warnings=warnings, cpu_s=time.process_time() - start)
    except Exception as exc:  # a bug or a library failure on one file must not stop the run
        return TrackResult(track, None, failure_message(exc, track.path), cpu_s=time.process_time() - start)


def record_result(result: TrackResult, summary: ExtractSummary, errors: dict[str, tuple[str, str]]) -> None:
    """Count one finished track in ``summary`` and keep ``errors`` (the errors table) up to date."""
    track_id = result.track.track_id
    summary.cpu_seconds += result.cpu_s
    if result.rows is None:
        errors[track_id] = (result.track.path, result.reason)
        summary.errors.append((track_id, result.reason))
    else:
        errors.pop(track_id, None)
        summary.extracted += 1
        summary.warnings += [(track_id, w) for w in result.warnings]


def errors_table(errors: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """The errors table (:data:`core.data.store.ERROR_COLUMNS`) of ``{track_id: (path, reason)}``."""
    return pd.DataFrame([(k, p, r) for k, (p, r) in errors.items()], columns=list(ERROR_COLUMNS))


class PartWriter:
    """Saves finished rows into the store ``root`` as they come: a part every ``part_keys`` tracks (or files)
    or :data:`PART_SECONDS`, whichever comes first, each time with the ``errors`` table as it is then."""

    def __init__(self, root: storage.Location, errors: dict[str, tuple[str, str]], part_keys: int) -> None:
        self.root, self.errors, self.part_keys = root, errors, part_keys
        self.pending: list[pd.DataFrame] = []  # one frame per track or file
        self.last_save = time.monotonic()

    def add(self, rows: pd.DataFrame) -> None:
        self.pending.append(rows)

    def save_if_due(self) -> None:
        if len(self.pending) >= self.part_keys or time.monotonic() - self.last_save >= PART_SECONDS:
            self.save()

    def save(self) -> None:
        if self.pending:
            write_part(self.root, pd.concat(self.pending, ignore_index=True))
            self.pending.clear()
        write_errors(self.root, errors_table(self.errors))
        self.last_save = time.monotonic()


class Engine(Protocol):
    """Runs :func:`extract_track` over ``todo`` and saves the rows into the store ``root``, calling
    :func:`record_result` for every track and ``progress`` as tracks finish (the local pool below;
    :mod:`core.data.dask_engine` on a Dask cluster)."""

    def __call__(self, todo: list[Track], root: storage.Location, schema: FeatureSchema, max_slices: int | None, workers: int,
                 part_tracks: int, summary: ExtractSummary, errors: dict[str, tuple[str, str]],
                 progress: Progress | None) -> None: ...


def extract_dataset(
    tracks: Iterable[Track],
    out_dir: str | os.PathLike,
    schema: FeatureSchema,
    *,
    max_slices: int | None = 10,
    workers: int | None = None,
    progress: Progress | None = None,
    part_tracks: int = PART_TRACKS,
    engine: Engine | None = None,
) -> ExtractSummary:
    """Extract ``tracks`` into the store directory ``out_dir``, skipping tracks already there.

    Uses a process pool of ``workers`` processes (default: all cores), or ``engine`` (e.g.
    :func:`core.data.dask_engine.dask_engine`). ``progress(done, total)`` is
    called as tracks finish (``done`` counts skipped tracks too). Failed tracks are written to the
    store's errors table (and retried by the next run); the rows of finished tracks are saved every
    ``part_tracks`` tracks or :data:`PART_SECONDS`, whichever comes first.
    """
    tracks = list(tracks)
    if any(str(t.path).startswith("memory://") for t in tracks):
        raise DatasetError("The audio is in memory:// storage, which lives in this process only: the extraction "
                           "workers cannot read it. Put the dataset on disk or in an object store.")
    root = open_store(out_dir, schema, max_slices)
    if not storage.is_url(root):  # an object store never holds temporaries (core.storage.write_bytes)
        remove_temporaries(root, recursive=True)
    done = done_keys(root)
    todo = [t for t in tracks if t.track_id not in done]
    summary = ExtractSummary(total=len(tracks), skipped=len(tracks) - len(todo))
    errors = {r.track_id: (r.path, r.reason) for r in read_errors(root).itertuples() if r.track_id not in done}
    start = time.perf_counter()
    if progress:
        progress(summary.skipped, summary.total)
    if todo:
        (engine or _run_pool)(todo, root, schema, max_slices, workers or os.cpu_count() or 1, part_tracks, summary,
                              errors, progress)
    summary.seconds = time.perf_counter() - start
    return summary


def _run_pool(todo: list[Track], root: storage.Location, schema: FeatureSchema, max_slices: int | None, workers: int,
              part_tracks: int, summary: ExtractSummary, errors: dict[str, tuple[str, str]],
              progress: Progress | None) -> None:
    parts = PartWriter(root, errors, part_tracks)
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=pool_context(), initializer=init_worker,
                             initargs=(os.getpid(), dict(os.environ))) as pool:
        futures: set[Future] = {pool.submit(extract_track, t, schema.id, max_slices) for t in todo}
        try:
            while futures:
                finished, futures = wait(futures, timeout=PART_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    result: TrackResult = future.result()
                    record_result(result, summary, errors)
                    if result.rows is not None:
                        parts.add(result.rows)
                parts.save_if_due()
                if progress:
                    progress(summary.skipped + summary.extracted + len(summary.errors), summary.total)
        finally:
            for future in futures:
                future.cancel()
            parts.save()

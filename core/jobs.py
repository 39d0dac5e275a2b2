"""Background training jobs: a watcher thread per job, live epoch snapshots, a stop flag, a process-wide registry.

A job runs ``work(listener, stop)`` on its own thread; ``work`` reports epochs to ``listener`` (an
:class:`core.models.train.EpochLog`) and polls ``stop`` (an object with ``is_set()``). The Train page's work is
a :class:`TrainProcess`: ``python -m core train ... --out FOLDER`` in a process of its own (so jobs never
share Keras' global state, and a job trains exactly what the same command trains from a terminal), whose
epoch reports are read back as they are written and which a stop request interrupts like Ctrl-C.
Readers (a UI polling every second) call :meth:`Job.snapshot`, which copies the epochs under a lock.

Jobs live in :data:`JOBS`, keyed by an unguessable id. Each job has an *owner*, a secret the id alone
does not give (the UI's per-browser key): only that owner can reattach with :meth:`JobRegistry.adopt`
(e.g. from a reloaded page), and an ``alive`` check: when the
owner has been gone for ``grace_s`` seconds and nobody reattached, its watcher thread stops it (at
the next batch, keeping its best weights) and says why; it is never left running unwatched. Each owner runs at most
one job, the process at most ``max_running``; finished jobs are forgotten ``keep_s`` after they end.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from core.models.model_card import ModelCard
from core.models.registry import META_FILE, ModelInfo, load_model, model_info
from core.models.train import EpochLog, EpochReport, Report, StageReport, StopFlag, TrainConfig, report_of

if TYPE_CHECKING:
    from core.keras_env import keras

Work = Callable[[EpochLog, StopFlag], Any]
Alive = Callable[[], bool]

RUNNING, FINISHED, STOPPED, FAILED = "running", "finished", "stopped", "failed"
ORPHANED = "its page was closed and nobody reattached"
USER_STOP = "stopped on request"
WATCH_S = 1.0  # how often a job's watcher checks that its owner is still there


class JobError(RuntimeError):
    """A job cannot be started or found; the message says why."""


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent view of a job at one moment."""

    status: str
    epochs: list[EpochReport]
    total_epochs: int
    elapsed_s: float
    stop_reason: str | None
    error: str | None
    stages: list[StageReport] = field(default_factory=list)  # every stage report so far (audio training)

    @property
    def done(self) -> int:
        return len(self.epochs)

    @property
    def stage(self) -> StageReport | None:
        """The latest stage report (None before the first)."""
        return self.stages[-1] if self.stages else None

    def stage_eta_s(self) -> float | None:
        """Seconds left in the current stage at its pace so far (None before its first step or once ended)."""
        stage = self.stage
        if self.status != RUNNING or stage is None or not stage.done or stage.done >= stage.total:
            return None
        return stage.seconds / stage.done * (stage.total - stage.done)

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the mean pace so far (None before the first epoch or once ended)."""
        if self.status != RUNNING or not self.epochs:
            return None
        return sum(e.seconds for e in self.epochs) / self.done * (self.total_epochs - self.done)


class Job:
    """One background run; create it with :meth:`JobRegistry.start`."""

    def __init__(self, work: Work, total_epochs: int, owner: str, alive: Alive | None, grace_s: float,
                 info: dict[str, Any] | None = None, clock: Callable[[], float] = time.monotonic):
        self.id = secrets.token_urlsafe(12)
        self.info = dict(info or {})  # what the run is, for display after a reattach
        self.total_epochs = total_epochs
        self.log = EpochLog()
        self.result: Any = None
        self.error: str | None = None
        self.stop_reason: str | None = None
        self._work, self._grace_s, self._clock = work, grace_s, clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._owner, self._alive = owner, alive
        self._gone_since: float | None = None
        self._status = RUNNING
        self.started = clock()
        self.ended: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"train-job-{self.id}", daemon=True)

    # --- worker side -------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            result = self._work(self.log, self)
        except Exception as exc:  # reported to the page; the worker must never die silently
            message = str(exc) if isinstance(exc, (ValueError, KeyError, OSError, JobError)) else f"{type(exc).__name__}: {exc}"
            self._end(FAILED, error=message.strip("'\""))
        else:
            self.result = result
            self._end(STOPPED if self._stop.is_set() else FINISHED)

    def _end(self, status: str, error: str | None = None) -> None:
        with self._lock:
            self._status, self.error, self.ended = status, error, self._clock()

    def is_set(self) -> bool:
        """The stop flag the work polls: set on request (:meth:`stop`) or by :meth:`check_owner`."""
        return self._stop.is_set()

    def check_owner(self) -> None:
        """Note whether the owner is alive; once it has been gone for the grace time, stop the job
        (reason :data:`ORPHANED`). The job's watcher calls it every :data:`WATCH_S` seconds."""
        now = self._clock()
        with self._lock:
            alive = self._alive is None or self._alive()
            self._gone_since = None if alive else (now if self._gone_since is None else self._gone_since)
            orphaned = self._gone_since is not None and now - self._gone_since >= self._grace_s
        if orphaned:
            self.stop(ORPHANED)

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_S) and self._thread.is_alive():
            self.check_owner()

    def _start(self) -> None:
        self._thread.start()
        threading.Thread(target=self._watch, name=f"train-job-watch-{self.id}", daemon=True).start()

    # --- reader side -------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    @property
    def owner(self) -> str:
        with self._lock:
            return self._owner

    def stop(self, reason: str = USER_STOP) -> None:
        """Ask the work to end (at the next batch); the first reason given is kept."""
        with self._lock:
            if not self._stop.is_set():
                self.stop_reason = reason
                self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (True) or ``timeout`` passes (False)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            status, reason, error, ended = self._status, self.stop_reason, self.error, self.ended
        elapsed = (ended if ended is not None else self._clock()) - self.started
        return JobSnapshot(status, self.log.snapshot(), self.total_epochs, elapsed, reason, error, self.log.stages())

    def _attach(self, alive: Alive | None) -> None:
        with self._lock:
            self._alive, self._gone_since = alive, None


class JobRegistry:
    """The jobs of this process, by id (thread-safe)."""

    def __init__(self, max_running: int = 2, grace_s: float = 60.0, keep_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic):
        self.max_running, self.grace_s, self.keep_s, self._clock = max_running, grace_s, keep_s, clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, work: Work, total_epochs: int, owner: str, alive: Alive | None = None,
              info: dict[str, Any] | None = None, max_running: int | None = None) -> Job:
        """Start ``work`` on a new thread for ``owner``; :class:`JobError` if the owner or server is busy
        (``max_running`` runs at once, :attr:`max_running` when None)."""
        with self._lock:
            self._prune()
            running = [j for j in self._jobs.values() if j.status == RUNNING]
            if any(j.owner == owner for j in running):
                raise JobError("A training run of yours is still going; stop it or wait for it to end first.")
            if len(running) >= (max_running or self.max_running):
                raise JobError(f"{len(running)} training runs are going on this server already; "
                               "try again when one has ended.")
            job = Job(work, total_epochs, owner, alive, self.grace_s, info, self._clock)
            self._jobs[job.id] = job
        job._start()
        return job

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            self._prune()
            return self._jobs.get(job_id or "")

    def adopt(self, job_id: str, owner: str, alive: Alive | None = None) -> Job:
        """Reattach the job's own ``owner`` (e.g. a reloaded page) with a new ``alive`` check; :class:`JobError`
        when the job is unknown or belongs to another owner."""
        job = self.get(job_id)
        if job is None:
            raise JobError("That training run is no longer on this server (it ended over an hour ago, "
                           "or the server restarted).")
        if not secrets.compare_digest(job.owner.encode(), owner.encode()):
            raise JobError("That training run was started in another browser; only that browser can follow "
                           "it or keep its model.")
        job._attach(alive)
        return job

    def discard(self, job_id: str) -> None:
        """Stop a job if it runs and forget it."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is not None:
            job.stop()

    def running(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.status == RUNNING]

    def _prune(self) -> None:
        now = self._clock()
        for job_id in [i for i, j in self._jobs.items() if j.ended is not None and now - j.ended > self.keep_s]:
            del self._jobs[job_id]


JOBS = JobRegistry()

REPO = Path(__file__).resolve().parents[1]
POLL_S = 0.1


@dataclass(frozen=True)
class TrainedRun:
    """A job's trained model folder (outside the registry) and what its card says about the run."""

    info: ModelInfo

    @property
    def card(self) -> ModelCard:
        return self.info.card

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.card.training.config)

    @property
    def history(self) -> dict[str, Any]:
        """``best_epoch``, ``monitor``, ``stopped``, ``epochs``, ... (see :meth:`core.models.train.TrainHistory.to_dict`)."""
        return self.card.training.history or {}

    def model(self) -> keras.Model:
        """The trained Keras model (loaded safely from the folder)."""
        return load_model(self.info.name, self.info.path.parent).model


class TrainProcess:
    """Job work: ``python -m core train ARGS --out FOLDER --report-jsonl FILE --stop-with-parent``.

    Epoch and stage reports (:func:`core.models.train.report_of`) reach the listener as the process writes
    them; a set stop flag sends it SIGINT (it stops at the next batch and keeps its best epoch, as Ctrl-C does;
    audio training stops at the next track, fold or batch and keeps nothing). Returns the :class:`TrainedRun`, or None
    when it was stopped before it had a model; raises :class:`JobError` with the command's
    message when it fails. The folder lives as long as this object.
    """

    def __init__(self, args: list[str]):
        self.args = list(args)
        self._tmp = tempfile.TemporaryDirectory(prefix="cpunk-train-")
        root = Path(self._tmp.name)
        self.folder, self.reports, self.errors = root / "run", root / "epochs.jsonl", root / "stderr.txt"
        self.command = [sys.executable, "-m", "core", "train", *args, "--out", str(self.folder),
                        "--report-jsonl", str(self.reports), "--stop-with-parent"]

    def __call__(self, listener: Callable[[Report], None], stop: StopFlag) -> TrainedRun | None:
        self.reports.touch()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        with open(self.errors, "wb") as errors, open(self.reports, encoding="utf-8") as reports:
            process = subprocess.Popen(self.command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=errors)
            interrupted, pending = False, ""
            try:
                while True:
                    ended = process.poll() is not None
                    pending += reports.read()
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        listener(report_of(json.loads(line)))
                    if ended:
                        break
                    if not interrupted and stop.is_set():
                        process.send_signal(signal.SIGINT)
                        interrupted = True
                    time.sleep(POLL_S)
            finally:
                if process.poll() is None:  # this thread is being torn down: never leave the process behind
                    process.kill()
                    process.wait()
        if process.returncode == 0:
            return TrainedRun(model_info(self.folder.name, self.folder.parent))
        if interrupted and not (self.folder / META_FILE).exists():
            return None
        message = [line for line in self.errors.read_text(errors="replace").splitlines() if line.strip()]
        said = [line.removeprefix("error: ") for line in message if line.startswith("error: ")]
        raise JobError(said[-1] if said else "Training ended unexpectedly (exit status "
                       f"{process.returncode}): {message[-1] if message else 'no message'}")

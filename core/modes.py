"""Who may do what: the app's two modes, decided in one place (no Streamlit here).

- **lab**: one researcher on their own machine. Typed paths anywhere, saving models to the shared
  registry, making one the default, long training runs.
- **public**: anyone who can reach the server. Dataset folders only from the operator's allowlist
  (``$CPUNK_ALLOWED_DIRS``), nothing read outside them, no registry writes, bounded training and uploads.

:func:`decide` picks the mode: ``$CPUNK_MODE`` (``public`` or ``lab``) when the operator set it, else
lab when the server listens on a loopback address only and public otherwise (Streamlit's default,
no ``server.address``, listens on every interface). Pages ask the resulting :class:`Policy`.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MODE_ENV = "CPUNK_MODE"
ALLOWED_ENV = "CPUNK_ALLOWED_DIRS"  # folders separated by os.pathsep (":" on Linux)
PUBLIC, LAB = "public", "lab"


class AccessError(ValueError):
    """An action this mode does not allow; the message is for the visitor and never names a server path."""


@dataclass(frozen=True)
class ScanBounds:
    """How far a folder scan may go: directory depth below the root, entries looked at, seconds."""

    max_depth: int
    max_entries: int
    max_seconds: float


@dataclass(frozen=True)
class Limits:
    """Public-mode limits on training, uploads, the tables read, analyses at once and memory held for uploads (one
    run per browser always: :mod:`core.jobs`)."""

    max_epochs: int = 200
    max_rows: int = 20_000
    max_jobs_server: int = 1
    uploads_per_window: int = 30
    upload_window_s: float = 600.0
    session_models: int = 3
    max_table_rows: int = 50_000
    max_table_mb: float = 50.0
    max_analyses: int = 2  # songs analysed at once on the whole server
    upload_memory_mb: int = 1_000  # uploaded files held in memory on the whole server (ui.upload_memory)


LAB_SCAN = ScanBounds(max_depth=32, max_entries=500_000, max_seconds=60.0)
PUBLIC_SCAN = ScanBounds(max_depth=8, max_entries=20_000, max_seconds=5.0)


@dataclass(frozen=True)
class Policy:
    """What this server allows; ``reason`` says why this mode was chosen."""

    mode: str
    reason: str
    allowed_roots: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits)

    @property
    def public(self) -> bool:
        return self.mode == PUBLIC

    @property
    def scan_bounds(self) -> ScanBounds:
        return PUBLIC_SCAN if self.public else LAB_SCAN

    @property
    def max_jobs_server(self) -> int | None:
        """Training runs at once on this server (None: :mod:`core.jobs`' own default)."""
        return self.limits.max_jobs_server if self.public else None

    @property
    def max_analyses(self) -> int | None:
        """Analyses at once on this server (None: no limit)."""
        return self.limits.max_analyses if self.public else None

    def check_path(self, path: str | os.PathLike, *also: Path) -> Path:
        """``path`` resolved (symlinks, ``..``), refused in public mode unless it lies inside an allowed
        root (or one of the app's own folders ``also``)."""
        resolved = Path(path).resolve()
        roots = (*self.allowed_roots, *(p.resolve() for p in also))
        if self.public and not any(resolved.is_relative_to(root) for root in roots):
            raise AccessError("That file is not in a folder this demo shares.")
        return resolved

    def check_training(self, epochs: int, rows: int) -> None:
        """Refuse a run beyond the public limits, saying which one."""
        if not self.public:
            return
        if epochs > self.limits.max_epochs:
            raise AccessError(f"This demo trains for at most {self.limits.max_epochs} epochs.")
        if rows > self.limits.max_rows:
            raise AccessError(f"This demo trains on at most {self.limits.max_rows:,} rows ({rows:,} chosen): "
                              "pick fewer genres or whole tracks.")


    def check_table(self, rows: int, unpacked_bytes: int) -> None:
        """Refuse, before it is read, a table beyond the public limits (from its metadata), saying which one."""
        if not self.public:
            return
        if rows > self.limits.max_table_rows:
            raise AccessError(f"This demo reads tables of at most {self.limits.max_table_rows:,} rows "
                              f"(this one has {rows:,}).")
        if unpacked_bytes > self.limits.max_table_mb * 1e6:
            raise AccessError(f"This demo reads tables of at most {self.limits.max_table_mb:g} MB unpacked "
                              f"(this one has {unpacked_bytes / 1e6:,.0f} MB).")


def is_loopback(address: str | None) -> bool:
    """Whether a listen address reaches this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if not address:
        return False  # Streamlit's default: every interface
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_roots(env: Mapping[str, str]) -> tuple[Path, ...]:
    """The operator's allowlist: existing folders in ``$CPUNK_ALLOWED_DIRS``, resolved, without repeats."""
    roots: list[Path] = []
    for entry in (env.get(ALLOWED_ENV) or "").split(os.pathsep):
        if entry.strip() and (path := Path(entry.strip()).expanduser().resolve()).is_dir() and path not in roots:
            roots.append(path)
    return tuple(roots)


def decide(address: str | None, env: Mapping[str, str] = os.environ) -> Policy:
    """The policy for a server listening on ``address`` (Streamlit's ``server.address``)."""
    roots = allowed_roots(env)
    chosen = (env.get(MODE_ENV) or "").strip().lower()
    if chosen in (PUBLIC, LAB):
        return Policy(chosen, f"{MODE_ENV}={chosen}", roots)
    if chosen:
        return Policy(PUBLIC, f"{MODE_ENV}={chosen!r} is neither 'public' nor 'lab'", roots)
    if is_loopback(address):
        return Policy(LAB, f"listening on {address} only", roots)
    return Policy(PUBLIC, f"listening on {address or 'every interface'}", roots)


class VisitorCounter:
    """Server-wide sliding-window counts per visitor (thread-safe): at most ``count`` new items in any
    ``window_s`` seconds from one visitor key; an item the visitor sent within the window is free again.

    A visitor idle for a whole window is forgotten, and at most ``max_visitors`` are remembered (the least
    recently seen forgotten first), so made-up visitor keys cannot fill the server's memory.
    """

    def __init__(self, clock: Callable[[], float], max_visitors: int = 10_000):
        self._clock, self.max_visitors = clock, max_visitors
        self._visitors: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, visitor: str, item: str, count: int, window_s: float) -> bool:
        """Record ``item`` for ``visitor`` and return True, or return False when its window is full."""
        now = self._clock()
        with self._lock:
            while self._visitors:  # forget idle visitors, least recently seen first
                oldest = next(iter(self._visitors.values()))
                if oldest and now - oldest[-1][0] < window_s:
                    break
                self._visitors.popitem(last=False)
            events = self._visitors.setdefault(visitor, deque())
            self._visitors.move_to_end(visitor)
            while events and now - events[0][0] >= window_s:
                events.popleft()
            if any(seen == item for _, seen in events):
                return True
            if len(events) >= count:
                return False
            events.append((now, item))
            while len(self._visitors) > self.max_visitors:
                self._visitors.popitem(last=False)
            return True


class Slots:
    """A server-wide count of tasks running now (thread-safe): :meth:`take` a slot while one runs."""

    def __init__(self) -> None:
        self.running = 0
        self._lock = threading.Lock()

    @contextmanager
    def take(self, limit: int | None) -> Iterator[bool]:
        """Yield True with a slot held while fewer than ``limit`` tasks run (None: no limit), else False at once."""
        with self._lock:
            got = limit is None or self.running < limit
            self.running += got
        try:
            yield got
        finally:
            with self._lock:
                self.running -= got

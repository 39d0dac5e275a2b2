"""Memory held for uploads: freed when a session ends, and in public mode at most ``Limits.upload_memory_mb``.

Streamlit keeps every file PUT to ``/_stcore/upload_file/<session>/<file>`` in memory (its
``MemoryUploadedFileManager``), under any file id the client makes up, until the session shuts down. A
session whose tab closed is kept for reconnecting for ``server.disconnectedSessionTTL`` seconds and then
dropped without being shut down (Streamlit 1.67), so its files would stay in memory for good. A background
:class:`UploadSweeper` (one per server, every :data:`SWEEP_S` seconds) frees the files of every session that
has not been connected for that long, and, in public mode, the oldest files beyond the server's budget.

Streamlit has no public API for this: the sweeper reads the manager's ``file_storage`` and calls its
``remove_file``/``remove_session_files`` and ``Runtime.is_active_session`` (tests/browser/test_hostile.py
checks them against the installed Streamlit).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import streamlit as st
from streamlit import runtime

SWEEP_S = 2.0
_LOG = logging.getLogger(__name__)


class FileRec(Protocol):
    @property
    def data(self) -> bytes: ...


class UploadSweeper:
    """Decides which uploaded files to free: those of sessions gone for ``grace_s`` seconds, then the oldest
    beyond ``cap_bytes`` (None: no cap)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._first_seen: dict[tuple[str, str], float] = {}
        self._gone_since: dict[str, float] = {}

    def sweep(self, storage: Mapping[str, Mapping[str, FileRec]], is_active: Callable[[str], bool],
              remove_session: Callable[[str], None], remove_file: Callable[[str, str], None],
              grace_s: float, cap_bytes: float | None) -> int:
        """Free what is due in ``storage`` (session -> file id -> file); returns the bytes freed."""
        now, freed = self._clock(), 0
        held = {sid: dict(files) for sid, files in list(storage.items())}
        for sid in list(held):
            if is_active(sid):
                self._gone_since.pop(sid, None)
            elif now - self._gone_since.setdefault(sid, now) >= grace_s:
                freed += sum(len(rec.data) for rec in held.pop(sid).values())
                remove_session(sid)
                del self._gone_since[sid]
        present = {(sid, fid) for sid, files in held.items() for fid in files}
        self._first_seen = {key: self._first_seen.get(key, now) for key in present}
        self._gone_since = {sid: t for sid, t in self._gone_since.items() if sid in held}
        total = sum(len(rec.data) for files in held.values() for rec in files.values())
        for sid, fid in sorted(present, key=self._first_seen.__getitem__) if cap_bytes is not None else ():
            if total <= cap_bytes:
                break
            size = len(held[sid][fid].data)
            remove_file(sid, fid)
            del self._first_seen[(sid, fid)]
            total, freed = total - size, freed + size
        return freed


def _manager() -> Any | None:
    """Streamlit's uploaded-file manager when this process is a Streamlit server holding uploads in memory."""
    if not runtime.exists():
        return None
    manager = runtime.get_instance().uploaded_file_mgr
    return manager if isinstance(getattr(manager, "file_storage", None), dict) else None


def held_bytes() -> int:
    """Bytes of uploaded files the server holds now."""
    manager = _manager()
    if manager is None:
        return 0
    return sum(len(rec.data) for files in list(manager.file_storage.values()) for rec in list(files.values()))


def _sweep_forever(sweeper: UploadSweeper, cap_bytes: float | None) -> None:
    while True:
        time.sleep(SWEEP_S)
        manager = _manager()
        if manager is None:
            continue
        try:
            sweeper.sweep(manager.file_storage, runtime.get_instance().is_active_session, manager.remove_session_files,
                          manager.remove_file, float(st.get_option("server.disconnectedSessionTTL")), cap_bytes)
        except Exception:  # the sweeper never dies: the next sweep tries again
            _LOG.exception("upload sweep failed")


@st.cache_resource
def start_sweeper(cap_bytes: float | None) -> threading.Thread | None:
    """Start the server's one upload sweeper (a daemon thread; ``cap_bytes``: public mode's budget, None in
    lab mode), once per process; none without a Streamlit server (AppTest)."""
    if not runtime.exists():
        return None
    thread = threading.Thread(target=_sweep_forever, args=(UploadSweeper(), cap_bytes), name="upload-sweeper",
                              daemon=True)
    thread.start()
    return thread

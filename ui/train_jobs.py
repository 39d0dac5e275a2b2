"""The Train page's link to :mod:`core.jobs`: which job this browser session watches, and reattaching to it.

The job id is kept in ``st.session_state`` and in the URL (``?job=...``), so a reloaded tab (a new
Streamlit session) finds its run again. The URL alone does not give control: a job's owner is the browser
that started it (:func:`ui.visitor.browser_key`, a secret from its cookie), so another browser with the
same link is refused, and each browser runs one job at a time. A job's owner is "alive" while its page
keeps asking for the run's progress (every second while it runs, :func:`heartbeat`); a run whose tab was
closed stops after the registry's grace time. Public Streamlit API only.
Training itself runs in a process of its own (:class:`core.jobs.TrainProcess`), so Streamlit's Keras
clean-up after each script run cannot touch it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import streamlit as st

from core.jobs import JOBS, Alive, Job, JobError, Work
from ui.visitor import browser_key

KEY, PARAM = "train_job", "job"
HEARTBEAT_S = 10.0  # a running job's page asks every second; this long without a question: the tab is gone
_SEEN: dict[str, float] = {}  # owner -> when its page last asked (only owners heard from within HEARTBEAT_S)
_SEEN_LOCK = threading.Lock()


def heartbeat() -> None:
    """Note that this browser's page is open (call on every run of the page and of its live fragment);
    owners not heard from for :data:`HEARTBEAT_S` are forgotten (they count as gone either way)."""
    now = time.monotonic()
    with _SEEN_LOCK:
        for owner in [o for o, seen in _SEEN.items() if now - seen >= HEARTBEAT_S]:
            del _SEEN[owner]
        _SEEN[browser_key()] = now


def _alive(owner: str) -> Alive:
    return lambda: time.monotonic() - _SEEN.get(owner, 0.0) < HEARTBEAT_S


def current_job() -> Job | None:
    """The job this session watches (reattached from the URL after a reload), or None."""
    heartbeat()
    job_id = st.session_state.get(KEY) or st.query_params.get(PARAM)
    if not job_id:
        return None
    try:
        job = JOBS.adopt(job_id, browser_key(), _alive(browser_key()))
    except JobError as exc:
        st.session_state.pop(KEY, None)
        st.query_params.pop(PARAM, None)
        st.info(str(exc), icon=":material/history:")
        return None
    st.session_state[KEY] = job.id
    if st.query_params.get(PARAM) != job.id:
        st.query_params[PARAM] = job.id
    return job


def start_job(work: Work, total_epochs: int, info: dict[str, Any], max_running: int | None = None) -> Job:
    """Start ``work`` for this session, replacing its previous (ended) run; raises JobError when busy
    (``max_running``: runs at once on the server, the registry's own limit when None)."""
    previous = st.session_state.get(KEY)
    job = JOBS.start(work, total_epochs, browser_key(), _alive(browser_key()), info=info, max_running=max_running)
    if previous:
        JOBS.discard(previous)
    st.session_state[KEY] = job.id
    st.query_params[PARAM] = job.id
    return job


def forget_job() -> None:
    """Stop (if needed) and drop this session's run."""
    job_id = st.session_state.pop(KEY, None)
    st.query_params.pop(PARAM, None)
    if job_id:
        JOBS.discard(job_id)

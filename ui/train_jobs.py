"""The Train page's link to :mod:`core.jobs`: which job this browser session watches, and reattaching to it.

The job id is kept in ``st.session_state`` and in the URL (``?job=...``), so a reloaded tab (a new
Streamlit session) finds its run again and becomes its owner. A job's owner is "alive" while its
Streamlit session is connected; a run whose tab was closed stops after the registry's grace time.

Streamlit calls ``keras.backend.clear_session()`` after every script run (to reset Keras between
reruns). With a model training on another thread that resets Keras' global state and clears
TensorFlow's caches mid-fit, twice a second while the live curves refresh: training crawled (no
epoch in minutes). :func:`_keep_keras_while_training` skips that clean-up while a job runs.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx, script_runner

from core.jobs import JOBS, Alive, Job, JobError, Work

KEY, PARAM = "train_job", "job"


def _keep_keras_while_training(clean=script_runner._clean_problem_modules):
    """Streamlit's after-run clean-up, except while a training job runs (private API, Streamlit 1.67)."""
    def clean_unless_training() -> None:
        if not JOBS.running():
            clean()
    clean_unless_training.patched = True
    return clean_unless_training


if not getattr(script_runner._clean_problem_modules, "patched", False):
    script_runner._clean_problem_modules = _keep_keras_while_training()


def session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def _alive(session: str) -> Alive | None:
    """Whether ``session`` is still connected (None outside a server, e.g. in AppTest: always alive)."""
    if not runtime.exists():
        return None
    instance = runtime.get_instance()
    return lambda: instance.is_active_session(session)


def current_job() -> Job | None:
    """The job this session watches (reattached from the URL after a reload), or None."""
    job_id = st.session_state.get(KEY) or st.query_params.get(PARAM)
    if not job_id:
        return None
    try:
        job = JOBS.adopt(job_id, session_id(), _alive(session_id()))
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
    job = JOBS.start(work, total_epochs, session_id(), _alive(session_id()), info=info, max_running=max_running)
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

"""The app's mode for this server (:mod:`core.modes`) and the per-session upload rate limit.

Pages ask :func:`policy` what to offer; nothing else looks at the listen address or ``$CPUNK_MODE``.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from core.modes import AccessError, Policy, RateLimit, decide

_LIMIT, _SEEN = "mode_upload_limit", "mode_uploads_seen"


def policy() -> Policy:
    """This server's policy: ``$CPUNK_MODE``, else lab on a loopback ``server.address`` and public otherwise."""
    return decide(st.get_option("server.address"))


def readable(path: Path, *also: Path) -> Path:
    """``path`` (resolved) when this mode lets a visitor read it; otherwise the refusal is shown and the page stops."""
    try:
        return policy().check_path(path, *also)
    except AccessError as exc:
        st.error(str(exc), icon=":material/block:")
        st.stop()


def source_label(source: str) -> str:
    """A model card's data source as a visitor may see it: in public mode its last path part only."""
    return source.rstrip("/").rsplit("/", 1)[-1] if policy().public else source


def upload_allowed(digest: str) -> bool:
    """Whether an upload (by content hash) may be used: always in lab mode; in public mode a file this
    session already sent, or a new one within the session's rate limit."""
    rules = policy()
    if not rules.public:
        return True
    seen: set[str] = st.session_state.setdefault(_SEEN, set())
    if digest in seen:
        return True
    limits = rules.limits
    limiter: RateLimit = st.session_state.setdefault(
        _LIMIT, RateLimit(limits.uploads_per_window, limits.upload_window_s, time.monotonic))
    if limiter.allow():
        seen.add(digest)
        return True
    return False


def upload_limit_message() -> str:
    limits = policy().limits
    return (f"Upload limit reached: this demo takes {limits.uploads_per_window} new files per "
            f"{limits.upload_window_s / 60:g} minutes from one visitor. Wait a few minutes and try again.")

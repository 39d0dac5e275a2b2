"""The app's mode for this server (:mod:`core.modes`), the per-visitor upload limit and the server's budget of
uploads held in memory (:mod:`ui.upload_memory`).

Pages ask :func:`policy` what to offer; nothing else looks at the listen address or ``$CPUNK_MODE``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import streamlit as st

from core.modes import AccessError, Policy, VisitorCounter, decide
from ui.plain import plain
from ui.upload_memory import held_bytes
from ui.visitor import visitor_key

UPLOADS = VisitorCounter(time.monotonic)  # new files and recordings per visitor, for the whole server


class Upload(Protocol):
    """A file or recording a visitor sent: its name and content hash."""

    @property
    def name(self) -> str: ...

    @property
    def digest(self) -> str: ...


U = TypeVar("U", bound=Upload)


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
    """Whether an upload or recording (by content hash) may be used: always in lab mode; in public mode one
    this visitor (:func:`ui.visitor.visitor_key`, whatever the tab) sent within the window, or a new one
    within the visitor's limit, counted server-wide."""
    rules = policy()
    if not rules.public:
        return True
    limits = rules.limits
    if uploads_full():
        return False
    return UPLOADS.allow(visitor_key(), digest, limits.uploads_per_window, limits.upload_window_s)


def upload_memory_cap() -> float | None:
    """Bytes of uploads the server may hold (public mode), or None (lab mode)."""
    rules = policy()
    return rules.limits.upload_memory_mb * 1e6 if rules.public else None


def uploads_full() -> bool:
    """Whether the server holds its public-mode budget of uploaded files (never in lab mode)."""
    cap = upload_memory_cap()
    return cap is not None and held_bytes() > cap


def allowed_uploads(items: Sequence[U]) -> list[U]:
    """The items :func:`upload_allowed` lets through; the others are named in an error on the page."""
    allowed = [item for item in items if upload_allowed(item.digest)]
    if len(allowed) < len(items):
        refused = ", ".join(item.name for item in items if item not in allowed)
        st.error(f"{upload_limit_message()} Not analysed: {plain(refused)}.", icon=":material/hourglass:")
    return allowed


def upload_limit_message() -> str:
    limits = policy().limits
    if uploads_full():
        return (f"The demo holds as many uploaded files as it can ({limits.upload_memory_mb:,} MB for all its "
                "visitors). Try again in a few minutes.")
    return (f"Upload limit reached: this demo takes {limits.uploads_per_window} new files or recordings per "
            f"{limits.upload_window_s / 60:g} minutes from one visitor, in all their tabs. Wait a few "
            "minutes and try again.")

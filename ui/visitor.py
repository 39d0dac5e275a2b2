"""Who a visitor is, as far as a server without accounts can tell (public Streamlit API only).

:func:`browser_key` is a secret per browser: a hash of the token in Streamlit's ``_streamlit_xsrf`` cookie,
which the browser sends with every request and which no URL carries (XSRF protection is on in
``.streamlit/config.toml``). Training jobs belong to it (:mod:`ui.train_jobs`), so a reload in the same
browser finds its run and another browser with the same link is refused. :func:`visitor_key` is what
per-visitor limits count against (:mod:`ui.mode`): the browser key, else the client's IP address.
Without the cookie (XSRF protection off, a scripted client) the browser key is random per session.
"""

from __future__ import annotations

import binascii
import hashlib
import secrets

import streamlit as st

XSRF_COOKIE = "_streamlit_xsrf"
_SESSION_KEY = "visitor_session_key"


def xsrf_token(cookie: str) -> bytes:
    """The token inside an XSRF cookie: a version-2 cookie (``2|mask|masked token|time``, re-masked on every
    response) unmasked, any other value as it is."""
    parts = cookie.strip("\"'").split("|")
    if len(parts) == 4 and parts[0] == "2":
        try:
            mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
        except (binascii.Error, ValueError):
            return cookie.encode()
        if mask:
            return bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
    return cookie.encode()


def key_of(cookie: str) -> str:
    """A browser key from its XSRF cookie (a hash: the token itself never leaves this function)."""
    return "b-" + hashlib.sha256(b"cpunk-browser\0" + xsrf_token(cookie)).hexdigest()[:32]


def _cookie() -> str | None:
    cookie = st.context.cookies.get(XSRF_COOKIE)
    return cookie if isinstance(cookie, str) and cookie else None  # AppTest's stand-in client sends none


def browser_key() -> str:
    """This browser's secret key (:func:`key_of` its XSRF cookie), or a random key for this session when the
    browser sent no cookie."""
    if cookie := _cookie():
        return key_of(cookie)
    if _SESSION_KEY not in st.session_state:
        st.session_state[_SESSION_KEY] = "s-" + secrets.token_urlsafe(16)
    return st.session_state[_SESSION_KEY]


def visitor_key() -> str:
    """What per-visitor limits count against: the browser key when the browser sent its cookie, else the
    client's IP address when known, else this session's key."""
    ip = st.context.ip_address
    return f"ip-{ip}" if not _cookie() and isinstance(ip, str) and ip else browser_key()

"""The per-browser key behind job ownership and per-visitor limits (ui/visitor.py)."""

from __future__ import annotations

import binascii

from ui.visitor import key_of, xsrf_token


def masked_cookie(token: bytes, mask: bytes, stamp: int = 1_700_000_000) -> str:
    """A version-2 XSRF cookie as Streamlit writes it (the token XOR a 4-byte mask, both in hex)."""
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(token))
    return f"2|{binascii.b2a_hex(mask).decode()}|{binascii.b2a_hex(masked).decode()}|{stamp}"


def test_the_key_follows_the_browsers_token_not_the_cookies_mask() -> None:
    token = bytes(range(16))
    first, again = masked_cookie(token, b"\x01\x02\x03\x04"), masked_cookie(token, b"\xaa\xbb\xcc\xdd", 1_700_000_001)
    assert first != again and xsrf_token(first) == xsrf_token(again) == token
    assert key_of(first) == key_of(again)  # Streamlit re-masks the cookie on every response: same browser
    assert key_of(masked_cookie(bytes(range(1, 17)), b"\x01\x02\x03\x04")) != key_of(first)  # another browser
    assert token.hex() not in key_of(first) and len(key_of(first)) == 34


def test_other_cookie_values_are_hashed_as_they_are() -> None:
    assert xsrf_token("2|zz|zz|1") == b"2|zz|zz|1"
    assert xsrf_token("plain") == b"plain" and key_of("plain") != key_of("plain2")


def test_the_train_heartbeat_forgets_owners_it_has_not_heard_from(monkeypatch) -> None:
    """Made-up cookies must not pile up: a heartbeat drops owners silent for HEARTBEAT_S (gone either way)."""
    import time

    from ui import train_jobs

    monkeypatch.setattr(train_jobs, "_SEEN", {f"b-{i}": time.monotonic() - train_jobs.HEARTBEAT_S - 1 for i in range(100)})
    monkeypatch.setattr(train_jobs, "browser_key", lambda: "b-here")
    assert not train_jobs._alive("b-1")()
    train_jobs.heartbeat()
    assert list(train_jobs._SEEN) == ["b-here"] and train_jobs._alive("b-here")() and not train_jobs._alive("b-1")()

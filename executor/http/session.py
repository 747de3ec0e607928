"""Browser sessions for the dashboard: an API token exchanged for a signed cookie.

A session cookie is ``nonce.issued.mac`` where ``mac`` is an HMAC of the nonce and the issue
time keyed by one of the API tokens. Any instance of a fleet that holds the same token
accepts it, and removing a token from ``--api-token`` ends the sessions it signed: there is
no session table to keep or to leak. The cookie is HttpOnly and SameSite=Strict; the CSRF
token that goes with it is a second, random cookie that every state-changing request must
echo (executor.http.ui.guard).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

SESSION_COOKIE = "executor_session"
CSRF_COOKIE = "executor_csrf"
# A working day: long enough not to interrupt an operator, short enough that a forgotten
# browser does not stay signed in for good.
SESSION_SECONDS = 12 * 3600
ISSUED = re.compile(r"[0-9]{1,12}")


def _mac(token: str, nonce: str, issued: int) -> str:
    message = f"executor-session|{nonce}|{issued}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def issue(token: str, now: float | None = None) -> str:
    """A new session cookie value signed with ``token`` (one the caller has checked)."""
    nonce = secrets.token_urlsafe(18)
    issued = int(time.time() if now is None else now)
    return f"{nonce}.{issued}.{_mac(token, nonce, issued)}"


def valid(cookie: str | None, tokens: tuple[str, ...] | list[str], now: float | None = None) -> bool:
    """Whether ``cookie`` was issued by ``issue`` with one of ``tokens`` and has not expired."""
    if not cookie or cookie.count(".") != 2:
        return False
    nonce, issued_text, mac = cookie.split(".")
    # ASCII digits, a sane length: str.isdigit() also takes "²", which int() refuses.
    if not ISSUED.fullmatch(issued_text):
        return False
    issued = int(issued_text)
    age = (time.time() if now is None else now) - issued
    if not 0 <= age <= SESSION_SECONDS:
        return False
    # Every token is tried, always: the time taken says nothing about which one matched.
    matches = [hmac.compare_digest(mac, _mac(token, nonce, issued)) for token in tokens]
    return any(matches)


def token_matches(offered: str, tokens: tuple[str, ...] | list[str]) -> str | None:
    """The token equal to ``offered`` (compared in constant time against each), or None."""
    found = None
    for token in tokens:
        if hmac.compare_digest(offered.encode(), token.encode()):
            found = token
    return found


def cookie_value(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """The value of cookie ``name`` in a raw ASGI header list, or None."""
    for key, value in headers:
        if key != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key_text, _, found = part.strip().partition("=")
            if key_text == name:
                return found
    return None

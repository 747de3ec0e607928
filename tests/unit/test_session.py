"""The dashboard's session cookies and the guard's same-origin rule, without a server."""

from __future__ import annotations

import pytest

from executor.http import session
from executor.http.ui.guard import same_origin

TOKENS = ("first-token", "second-token")


def test_a_session_signed_with_any_current_token_is_valid_until_it_expires() -> None:
    cookie = session.issue("second-token", now=1_000_000)
    assert session.valid(cookie, TOKENS, now=1_000_000 + 60)
    assert not session.valid(cookie, TOKENS, now=1_000_000 + session.SESSION_SECONDS + 1)
    assert not session.valid(cookie, ("another-token",), now=1_000_000 + 60), "the token was rotated out"


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "",
        "no-dots",
        "a.b.c.d",
        "nonce.\u00b2.mac",  # isdigit() says yes, int() says no
        "nonce." + "9" * 5000 + ".mac",
        "nonce.-5.mac",
        "nonce.1000000.not-the-mac",
    ],
)
def test_a_malformed_or_forged_cookie_is_simply_not_a_session(cookie: str | None) -> None:
    assert not session.valid(cookie, TOKENS, now=1_000_060)


def test_a_cookie_signed_in_the_future_is_refused() -> None:
    assert not session.valid(session.issue("first-token", now=2_000_000), TOKENS, now=1_000_000)


def _scope(**headers: str) -> dict[str, object]:
    return {"headers": [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]}


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"host": "127.0.0.1:8080", "origin": "http://127.0.0.1:8080"}, True),
        ({"host": "127.0.0.1:8080", "origin": "http://127.0.0.1:9999"}, False),  # another port
        ({"host": "127.0.0.1:8080", "origin": "http://localhost:8080"}, False),
        ({"host": "[::1]:8080", "origin": "http://[::1]:8080"}, True),
        ({"host": "ci.example.com", "origin": "https://ci.example.com"}, True),  # behind TLS
        ({"host": "ci.example.com", "origin": "null"}, False),
        ({"host": "ci.example.com", "origin": "https://ci.example.com:bad"}, False),
        ({"host": "127.0.0.1:8080", "sec_fetch_site": "same-site"}, False),
        ({"host": "127.0.0.1:8080", "sec_fetch_site": "cross-site"}, False),
        ({"host": "127.0.0.1:8080", "sec_fetch_site": "same-origin"}, True),
        ({"host": "127.0.0.1:8080"}, True),  # not a browser: the CSRF token decides
    ],
)
def test_only_this_origin_may_post(headers: dict[str, str], allowed: bool) -> None:
    assert same_origin(_scope(**headers)) is allowed

"""Signing in and out of the dashboard: an API token exchanged for a session cookie."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from executor.http import session
from executor.http.ui.forms import read_form
from executor.http.ui.guard import cookie_header
from executor.http.ui.render import page

# A wrong token costs the guesser this long; a person barely notices.
FAILED_LOGIN_DELAY = 0.5


def _next(request: Request, given: str | None) -> str:
    """Where to go after signing in: a path on this dashboard only, never another site."""
    target = given or "/ui"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/ui") or target.startswith("//"):
        return "/ui"
    return target


async def login(request: Request) -> Response:
    tokens: tuple[str, ...] = request.app.state.tokens
    if request.method == "GET":
        if not tokens or request.scope["state"].get("signed_in"):
            return RedirectResponse(_next(request, request.query_params.get("next")), status_code=303)
        return page(request, "login.html", next=_next(request, request.query_params.get("next")), error=None)
    form = await read_form(request)
    offered = str(form.get("token", ""))
    target = _next(request, str(form.get("next", "")) or None)
    token = session.token_matches(offered, tokens) if offered else None
    if token is None:
        await asyncio.sleep(FAILED_LOGIN_DELAY)
        return page(request, "login.html", status=401, next=target, error="That token is not valid here.")
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    value = cookie_header(
        session.SESSION_COOKIE, session.issue(token), max_age=session.SESSION_SECONDS, secure=secure
    )
    response.raw_headers.append((b"set-cookie", value))
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/ui/login" if request.app.state.tokens else "/ui", status_code=303)
    response.raw_headers.append(
        (
            b"set-cookie",
            cookie_header(session.SESSION_COOKIE, "", max_age=0, secure=request.url.scheme == "https"),
        )
    )
    return response

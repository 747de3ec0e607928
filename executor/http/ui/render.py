"""Rendering dashboard pages: one Jinja2 environment, escaping everything, and the filters the
templates share (times in the viewer's zone, JSON, durations)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any

import jinja2
from loguru import logger
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from executor import __version__
from executor.errors import ExecutorError
from executor.sizes import format_size, format_usd

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def _utc(value: float) -> datetime | None:
    """The instant ``value`` (Unix seconds) names; None when no date holds it (before the
    year 1 or after 9999, NaN)."""
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def iso(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    moment = _utc(value)
    if moment is None:
        return f"{value!r} seconds from 1970 (out of a date's range)"
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def when(value: float | str | None, empty: str = "—") -> Markup:
    """A ``<time>``: UTC in the markup and on hover; ui.js shows it in the viewer's zone.
    A time out of a date's range is plain text (pages must render whatever is stored)."""
    text = iso(value)
    if text is None:
        return Markup(escape(empty))
    if isinstance(value, int | float) and _utc(value) is None:
        return Markup(escape(text))
    return Markup('<time datetime="{0}" title="{0}">{0}</time>').format(text)


def duration(start: float | None, end: float | None = None, now: float | None = None) -> str:
    if start is None:
        return "—"
    finish = end if end is not None else now
    if finish is None:
        return "—"
    seconds = max(0.0, finish - start)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


size = format_size  # the templates' and tables' name for it


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["json"] = pretty_json
    env.filters["size"] = size
    env.filters["usd"] = format_usd
    env.filters["tojson_attr"] = lambda value: json.dumps(value, separators=(",", ":"))
    env.globals["duration"] = duration
    env.globals["version"] = __version__
    return env


templates = Jinja2Templates(env=_environment())


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Template ``name`` with what every page needs: the CSRF token, whether a login exists,
    the path (for the navigation)."""
    state = request.scope.get("state", {})
    base = {
        "csrf": state.get("csrf", ""),
        "login": bool(request.app.state.secured),
        "path": request.url.path,
        "is_htmx": request.headers.get("hx-request") == "true",
    }
    response: HTMLResponse = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"
    return response


Handler = Callable[[Request], Awaitable[Response]]


def html_errors(handler: Handler) -> Handler:
    """Errors a page's handler raises become an error page with the error's status (a
    missing run is a 404 page, not a JSON body in the browser)."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ExecutorError as exc:
            status = getattr(exc, "http_status", 400)
            if status >= 500:
                logger.opt(exception=exc).error("dashboard page {} failed", request.url.path)
            return page(
                request, "error.html", status=status, message=str(exc), code=getattr(exc, "code", "error")
            )

    return wrapped


STOP_POLLING = 286
"""The status that makes htmx stop polling (it still swaps the answer in)."""


def polled(target: str) -> Callable[[Handler], Handler]:
    """For a fragment htmx polls (into the element of id ``target``): a client error (the
    run deleted, a parameter refused) would be the same answer every second, so htmx's
    request gets `STOP_POLLING` and a note in the element's place instead. A server error
    (the database away for a moment) keeps the polling: it may pass."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except ExecutorError as exc:
                if getattr(exc, "http_status", 500) >= 500 or request.headers.get("hx-request") != "true":
                    raise
                return page(
                    request, "_live_gone.html", status=STOP_POLLING, target=target, message=exc.message
                )

        return wrapped

    return decorate

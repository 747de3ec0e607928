"""One JSON shape for every error answer: ``{"error": {"code": ..., "message": ...}}``.

The status is chosen by the error's category (`ExecutorError.http_status`); the message is
the user-facing one. Errors about the request name every field that is wrong in
``details`` (``{path, line?, message}``); a 409 carries the run's current ``status``.
Anything unexpected is logged with its traceback and answered with a plain 500 that
reveals nothing about the internals.

A path with a trailing slash is not redirected (a redirect drops a POST body on some
clients): its 404 names the route it misses, ``/runs`` for ``/runs/``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from loguru import logger
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match

from executor.errors import ExecutorError, InputInvalid, ParameterInvalid, RunStateConflict, WorkflowInvalid
from executor.http.problems import ClientError


class _AsciiJSON(JSONResponse):
    """Error answers quote what the client sent; escaped as ASCII, even text that is not
    valid Unicode can be quoted back."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(
    http_status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return _AsciiJSON({"error": {"code": code, "message": message, **extra}}, http_status, headers=headers)


def _without_trailing_slash(request: Request) -> str | None:
    """The path minus its trailing slashes when a route answers that one, else None."""
    path: str = request.scope["path"]
    trimmed = path.rstrip("/")
    if not trimmed or trimmed == path:
        return None
    scope = {**request.scope, "path": trimmed}
    routes = request.scope["app"].router.routes
    return trimmed if any(route.matches(scope)[0] is not Match.NONE for route in routes) else None


async def http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    message = exc.detail if exc.detail and exc.detail != phrase else _MESSAGES.get(exc.status_code, phrase)
    headers = dict(exc.headers or {})
    if "Allow" in headers:  # Starlette joins a set: one order, always
        headers["Allow"] = ", ".join(sorted(method.strip() for method in headers["Allow"].split(",")))
    if exc.status_code == 404 and (route := _without_trailing_slash(request)):
        message = f"no such route; the route is {route}, without the trailing slash"
    return error_response(exc.status_code, code, message, headers)


def _details(exc: ExecutorError) -> dict[str, Any]:
    if isinstance(exc, WorkflowInvalid):
        return {"details": [{"path": p.path, "line": p.line, "message": p.message} for p in exc.problems]}
    if isinstance(exc, InputInvalid):
        return {"details": [{"path": path, "message": message} for path, message in exc.problems]}
    if isinstance(exc, ClientError) and exc.details:
        return {"details": exc.details}
    if isinstance(exc, ParameterInvalid):
        return {"details": [{"path": exc.parameter, "message": exc.detail}]}
    if isinstance(exc, RunStateConflict):
        return {"status": exc.status}
    return {}


def error_body(exc: ExecutorError) -> dict[str, Any]:
    """The ``error`` object of an answer for ``exc`` (and of a batch's result it refused)."""
    return {"code": exc.code, "message": exc.message, **_details(exc)}


async def executor_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ExecutorError)
    if exc.http_status >= 500 and not isinstance(exc, ClientError):
        logger.opt(exception=exc).error("{} {} failed: {}", request.method, request.url.path, exc.message)
    headers = exc.headers if isinstance(exc, ClientError) else None
    return error_response(exc.http_status, exc.code, exc.message, headers, **_details(exc))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.opt(exception=exc).error("{} {} failed unexpectedly", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error; the server log has the details")


_MESSAGES = {
    404: "no such route",
    405: "method not allowed on this route",
}

HANDLERS = {
    HTTPException: http_exception,
    ExecutorError: executor_error,
    Exception: unexpected_error,
}

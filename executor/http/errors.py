"""One JSON shape for every error answer: ``{"error": {"code": ..., "message": ...}}``.

The status is chosen by the error's category (`ExecutorError.http_status`); the message is
the user-facing one. Anything unexpected is logged with its traceback and answered with a
plain 500 that reveals nothing about the internals.
"""

from __future__ import annotations

from http import HTTPStatus

from loguru import logger
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from executor.errors import ExecutorError


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


async def http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    message = exc.detail if exc.detail and exc.detail != phrase else _MESSAGES.get(exc.status_code, phrase)
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def executor_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ExecutorError)
    if exc.http_status >= 500:
        logger.opt(exception=exc).error("{} {} failed: {}", request.method, request.url.path, exc.message)
    return error_response(exc.http_status, exc.code, exc.message)


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

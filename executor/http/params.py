"""Path and query parameters, checked against the bounds the OpenAPI document declares.

Every text parameter reaches a database lookup, and PostgreSQL's text holds no NUL
character: one is refused with 422 naming the parameter, on every backend alike.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from executor.http import schemas
from executor.http.problems import InvalidRequest


def _text(name: str, value: str) -> str:
    if "\x00" in value:
        raise InvalidRequest(
            f"{name} {schemas.NO_NUL_MESSAGE}", [{"path": name, "message": schemas.NO_NUL_MESSAGE}]
        )
    return value


def path(request: Request, name: str) -> str:
    return _text(name, request.path_params[name])


def query(request: Request, name: str) -> str | None:
    """The query parameter's value; None when it is absent or empty."""
    value = request.query_params.get(name)
    return _text(name, value) if value else None


def query_int(request: Request, name: str, schema: dict[str, Any], default: int) -> int:
    low, high = schema["minimum"], schema["maximum"]
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequest(
            f"{name} must be a whole number from {low} to {high}",
            [{"path": name, "message": f"{text!r} is not a whole number from {low} to {high}"}],
        )
    return value

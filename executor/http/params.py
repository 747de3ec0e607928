"""Path and query parameters, checked against the bounds the OpenAPI document declares.

Every text parameter reaches a database lookup, and PostgreSQL's text holds no NUL
character: one is refused with 422 naming the parameter, on every backend alike, and so is
a value longer than its schema's ``maxLength``. Numbers and booleans are read as the
document writes them (``-?[0-9]+``, ``true``/``false``), not as Python would coerce them.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from executor.http import schemas
from executor.http.problems import InvalidRequest

_INTEGER = re.compile(r"-?[0-9]+")


def _refuse(name: str, message: str, detail: str) -> InvalidRequest:
    return InvalidRequest(f"{name} {message}", [{"path": name, "message": detail}])


def _text(name: str, value: str, schema: dict[str, Any]) -> str:
    if "\x00" in value:
        raise _refuse(name, schemas.NO_NUL_MESSAGE, schemas.NO_NUL_MESSAGE)
    longest = schema.get("maxLength")
    if longest is not None and len(value) > longest:
        raise _refuse(
            name, f"must be at most {longest} characters", f"{len(value)} characters, over {longest}"
        )
    return value


def path(request: Request, name: str, schema: dict[str, Any] = schemas.IDENTIFIER) -> str:
    return _text(name, request.path_params[name], schema)


def query(request: Request, name: str, schema: dict[str, Any]) -> str | None:
    """The query parameter's value; None when it is absent or empty."""
    value = request.query_params.get(name)
    return _text(name, value, schema) if value else None


def query_int(request: Request, name: str, schema: dict[str, Any], default: int) -> int:
    low, high = schema["minimum"], schema["maximum"]
    text = request.query_params.get(name)
    if text is None:
        return default
    # Digits past 30 are out of every range (and past 4,300 int() itself refuses them).
    value = int(text) if _INTEGER.fullmatch(text) and len(text.lstrip("-0")) <= 30 else None
    if value is None or not low <= value <= high:
        raise _refuse(
            name,
            f"must be a whole number from {low} to {high}",
            f"{text!r} is not a whole number from {low} to {high}",
        )
    return value


def query_bool(request: Request, name: str) -> bool:
    text = request.query_params.get(name)
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise _refuse(name, "must be true or false", f"{text!r} is not true or false")

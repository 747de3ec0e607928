"""Path and query parameters, checked against the bounds the OpenAPI document declares.

Every text parameter reaches a database lookup, and PostgreSQL's text holds no NUL
character: one is refused with 422 naming the parameter, on every backend alike, and so is
a value longer than its schema's ``maxLength``. Numbers and booleans are read as the
document writes them (``-?[0-9]+``, ``true``/``false``), not as Python would coerce them.
The dashboard reads its query strings and form fields with the same checks (`text`,
`integer`, `decode_cursor`), so that a value the API refuses is refused there too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from starlette.requests import Request

from executor.http import schemas
from executor.http.problems import InvalidRequest

_INTEGER = re.compile(r"-?[0-9]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
LATEST = 253402300800.0
"""10000-01-01T00:00:00Z in Unix seconds: the times a cursor or a dashboard filter may hold
run from 1970 up to it (what a date can show, and PostgreSQL's ``to_timestamp`` take)."""


def _refuse(name: str, message: str, detail: str) -> InvalidRequest:
    return InvalidRequest(f"{name} {message}", [{"path": name, "message": detail}])


def text(name: str, value: str, schema: dict[str, Any]) -> str:
    """``value`` of the parameter (or form field) ``name``, refused when it holds a NUL or is
    longer than the schema's ``maxLength``."""
    if "\x00" in value:
        raise _refuse(name, schemas.NO_NUL_MESSAGE, schemas.NO_NUL_MESSAGE)
    longest = schema.get("maxLength")
    if longest is not None and len(value) > longest:
        raise _refuse(
            name, f"must be at most {longest} characters", f"{len(value)} characters, over {longest}"
        )
    return value


def path(request: Request, name: str, schema: dict[str, Any] = schemas.IDENTIFIER) -> str:
    return text(name, request.path_params[name], schema)


def query(request: Request, name: str, schema: dict[str, Any]) -> str | None:
    """The query parameter's value; None when it is absent or empty."""
    value = request.query_params.get(name)
    return text(name, value, schema) if value else None


def query_int(request: Request, name: str, schema: dict[str, Any], default: int) -> int:
    given = request.query_params.get(name)
    return default if given is None else integer(name, given, schema)


def integer(name: str, given: str, schema: dict[str, Any]) -> int:
    """``given`` as a whole number within the schema's ``minimum`` and ``maximum``: ASCII
    digits only (``str.isdigit`` would take ``"²"``, which ``int`` refuses)."""
    low, high = schema["minimum"], schema["maximum"]
    # Digits past 30 are out of every range (and past 4,300 int() itself refuses them).
    value = int(given) if _INTEGER.fullmatch(given) and len(given.lstrip("-0")) <= 30 else None
    if value is None or not low <= value <= high:
        raise _refuse(
            name,
            f"must be a whole number from {low} to {high}",
            f"{given!r} is not a whole number from {low} to {high}",
        )
    return value


def query_bool(request: Request, name: str) -> bool:
    given = request.query_params.get(name)
    if given is None or given == "false":
        return False
    if given == "true":
        return True
    raise _refuse(name, "must be true or false", f"{given!r} is not true or false")


def encode_cursor(created_at: float, run_id: str) -> str:
    """A ``next_cursor``: where the next page of runs (newest first) begins."""
    return base64.urlsafe_b64encode(json.dumps([created_at, run_id]).encode()).decode()


def decode_cursor(given: str) -> tuple[float, str]:
    """The creation time and run id an `encode_cursor` cursor holds. Anything else is
    refused with 422 naming ``cursor`` before a database sees it: PostgreSQL makes a
    timestamp of the time (NaN or 1e300 is an error there, not an empty page) and a uuid of
    the id."""
    text("cursor", given, schemas.CURSOR_PARAM)
    try:
        created_at, run_id = json.loads(base64.urlsafe_b64decode(given.encode()))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        created_at = run_id = None
    is_time = isinstance(created_at, int | float) and not isinstance(created_at, bool)
    # NaN fails the comparison, and so does infinity.
    if is_time and 0 <= created_at < LATEST and isinstance(run_id, str) and _UUID.fullmatch(run_id):
        return float(created_at), run_id
    raise _refuse("cursor", "is not one this API gave", "not a valid cursor")

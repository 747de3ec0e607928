"""Reading request bodies: size limit first, then media type, then syntax.

The limit is enforced while the body streams in (and from Content-Length when sent), so a
huge body is refused with 413 before it is read whole.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from executor.http.problems import BodyTooLarge, InvalidRequest, MalformedBody, UnsupportedMediaType
from executor.nesting import MAX_DEPTH, deeper_than
from executor.workflow.source import is_unicode

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is larger than the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int, *, empty: Any = ...) -> Any:
    """The JSON body; with ``empty`` given, an empty body (any type) stands for that value."""
    raw = await read(request, limit)
    if not raw.strip() and empty is not ...:
        return empty
    if media_type(request) not in JSON_TYPES:
        raise UnsupportedMediaType("send application/json")
    return parse_json(raw)


def parse_json(raw: bytes, depth: int = MAX_DEPTH) -> Any:
    """The body's value, refused when it nests deeper than ``depth`` levels: checked before
    anything (validation, storage) walks it recursively. (The dashboard's forms read a part
    of a request, its input or a signal's payload, with the depth the rest leaves it.)"""
    too_deep = InvalidRequest(
        f"the body is nested deeper than the limit of {depth} levels of arrays and objects",
        [{"path": "$", "message": f"nested deeper than {depth} levels"}],
    )
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise too_deep from None
    if deeper_than(value, depth):
        raise too_deep
    if not is_unicode(value):
        raise MalformedBody("the body has text that is not valid Unicode (a lone surrogate escape)")
    return value

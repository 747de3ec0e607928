"""HTTP range and validator headers (RFC 9110) for a download: which bytes a ``Range``
asks for, and whether ``If-None-Match`` already holds the representation. No I/O.

One range is served (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``); a header asking for several
is answered with the whole representation (200), which the RFC allows, and so is one that
does not parse or names another unit. A range that starts past the end is unsatisfiable
(416). ``If-Range`` that is not this representation's strong ETag turns the range off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
# A position longer than this is past the end of anything stored (and int() takes it cheaply).
_DIGITS = 19


class Unsatisfiable(Exception):
    """No byte of the representation is in the range asked for."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive
    size: int  # of the whole representation

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end - 1}/{self.size}"


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= _DIGITS else 1 << 64


def byte_range(header: str | None, size: int, etag: str, if_range: str | None = None) -> ByteRange | None:
    """The one range ``header`` asks for of ``size`` bytes, None for the whole (no header, a
    header ignored, or an ``If-Range`` other than ``etag``); `Unsatisfiable` when it starts at
    or past the end."""
    if header is None or (if_range is not None and if_range.strip() != etag):
        return None
    match = _SPEC.fullmatch(header.strip())
    if match is None:  # another unit, several ranges, or not a range at all
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = _number(last)
        if suffix == 0:
            raise Unsatisfiable
        if size == 0:  # the last n bytes of nothing: the whole (empty) representation
            return None
        return ByteRange(max(size - suffix, 0), size, size)
    start = _number(first)
    if last and _number(last) < start:  # `bytes=5-3`: not a valid range, ignored
        return None
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, size if not last else min(_number(last) + 1, size), size)


def not_modified(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` lists ``etag`` (weak comparison) or is ``*``."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in header.split(","))

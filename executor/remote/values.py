"""Values people type on the command line, turned into what the API takes: times (ISO or
relative, like ``1h``), a run's input (JSON, a file, ``key=value`` pairs), JSON payloads.

A value that does not parse is a usage error (`ConfigError`, exit 2) naming the option, and
so is one the API would refuse whatever the server: text that is not valid Unicode (a lone
surrogate: a ``\\ud800`` escape in JSON, or bytes the terminal could not decode), JSON nested
deeper than the API reads.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from executor.durations import parse_duration
from executor.errors import ConfigError
from executor.nesting import MAX_DEPTH, deeper_than

# The deepest nesting of arrays and objects the API reads in a request body (its body reader
# applies the same executor.nesting.MAX_DEPTH).
API_MAX_DEPTH = MAX_DEPTH


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str, option: str, now: datetime | None = None, *, naive_local: bool = True) -> str:
    """``text`` as an ISO 8601 time the API takes: an ISO date or time as it is given (one
    without an offset read in the local zone, unless ``naive_local`` is false: then it is left
    for the server to read), or a duration back from now (``90s``, ``15m``, ``1h``, ``2d``)."""
    text = text.strip()
    try:
        ago = parse_duration(text)
    except ValueError:
        pass
    else:
        if ago < 0:
            raise ConfigError(option, f"{text!r} is negative; give how long ago, e.g. 1h")
        return iso((now or datetime.now(UTC)) - timedelta(seconds=ago))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            option,
            f"{text!r} is neither an ISO 8601 time (2026-11-01, 2026-11-01T09:30:00Z) "
            "nor a duration back from now (30m, 1h, 2d)",
        ) from None
    if moment.tzinfo is None and not naive_local:
        return moment.isoformat()
    return iso(moment)  # a time without an offset: astimezone() takes it as local


def parse_json(text: str, option: str, depth: int = 1) -> Any:
    """``text`` as JSON, for a value sent ``depth`` levels down in a request body (a run's
    ``input``, a signal's ``payload``: 1)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ConfigError(option, _too_deep(depth)) from None
    except ValueError as exc:
        raise ConfigError(option, f"not JSON: {exc}") from None
    check_value(value, option, depth)
    return value


def check_value(value: Any, option: str, depth: int = 1) -> None:
    """Refuse a JSON value the API would not take ``depth`` levels down in a request body."""
    if deeper_than(value, API_MAX_DEPTH - depth):
        raise ConfigError(option, _too_deep(depth))
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(option, _not_unicode(exc.object[exc.start])) from None


def check_text(text: str, option: str) -> None:
    """Refuse a command-line value that cannot be sent: Python keeps the bytes of an argument
    that is not UTF-8 as lone surrogates (U+DC80 to U+DCFF), which no request can carry."""
    for char in text:
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ConfigError(option, _not_unicode(char))


def _not_unicode(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as Python's surrogateescape keeps it
        return f"the text is not valid Unicode: it is not UTF-8 (the byte 0x{code - 0xDC00:02x})"
    return f"the text is not valid Unicode: it holds a lone surrogate (\\u{code:04x})"


def _too_deep(depth: int) -> str:
    return (
        f"nested deeper than the {API_MAX_DEPTH - depth} levels of arrays and objects the API "
        f"takes here (at most {API_MAX_DEPTH} in a request body)"
    )


def read_text(path: str, option: str) -> str:
    """A file's text (UTF-8); ``-`` reads stdin."""
    try:
        if path == "-":
            if sys.stdin is None:
                raise ConfigError(option, "stdin is closed")
            # Bytes, decoded here: the text layer may decode them leniently (surrogateescape).
            stdin = getattr(sys.stdin, "buffer", None)
            return stdin.read().decode("utf-8") if stdin is not None else sys.stdin.read().encode().decode()
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(option, f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeError:
        source = "stdin" if path == "-" else path
        raise ConfigError(option, f"{source} is not UTF-8 text") from None


def run_input(input_json: str | None, input_file: str | None, pairs: list[str]) -> dict[str, Any]:
    """``--input`` or ``--input-file`` (a JSON object), then each ``-i key=value`` on top
    (a value is JSON when it parses as JSON, else a string), as `executor run` reads them."""
    if input_json is not None and input_file is not None:
        raise ConfigError("--input", "give --input or --input-file, not both")
    value: dict[str, Any] = {}
    option, text = ("--input", input_json) if input_json is not None else ("--input-file", None)
    if input_file is not None:
        text = read_text(input_file, "--input-file")
    if text is not None:
        parsed = parse_json(text, option)
        if not isinstance(parsed, dict):
            raise ConfigError(option, "must be a JSON object")
        value = parsed
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError("-i", f"{pair!r}: expected key=value")
        check_text(key, "-i")
        try:
            value[key] = json.loads(raw)
        except (ValueError, RecursionError):
            value[key] = raw
        check_value(value[key], "-i", depth=2)  # in the body's input
    return value

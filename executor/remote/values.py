"""Values people type on the command line, turned into what the API takes: times (ISO or
relative, like ``1h``), a run's input (JSON, a file, ``key=value`` pairs), JSON payloads.

A value that does not parse is a usage error (`ConfigError`, exit 2) naming the option.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from executor.durations import parse_duration
from executor.errors import ConfigError


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


def parse_json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(option, f"not JSON: {exc}") from None


def read_text(path: str, option: str) -> str:
    """A file's text; ``-`` reads stdin."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(option, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(option, f"{path} is not UTF-8 text") from None


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
        try:
            value[key] = json.loads(raw)
        except ValueError:
            value[key] = raw
    return value

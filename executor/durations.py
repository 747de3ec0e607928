"""Durations as people write them (``500ms``, ``30s``, ``5m``, ``2h``, ``30d``) and as seconds.

One module for settings, the workflow language and actions alike, so that a duration
means the same thing wherever a user writes one.
"""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# The longest duration: anything longer is a typo, and parks what waits on it forever.
MAX_SECONDS = 100 * 365 * 86400.0  # 100 years (36500d)


def parse_duration(text: str) -> float:
    """Parse ``500ms``, ``30s``, ``5m``, ``2h``, ``30d`` (or a bare number of seconds) into seconds."""
    text = str(text)
    match = _DURATION.match(text)
    if match:
        return bounded(float(match.group(1)) * _UNIT_SECONDS[match.group(2)], text)
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a duration (use a number with ms, s, m, h or d, e.g. 500ms, 30s, 5m, 2h, 7d)"
        ) from None
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a finite duration")
    return bounded(seconds, text)


def bounded(seconds: float, value: object) -> float:
    """``seconds`` (written as ``value``), unless longer than `MAX_SECONDS` (or NaN): a ValueError."""
    if seconds > MAX_SECONDS:
        raise ValueError(f"{value!r} is longer than 100 years (36500d), the longest duration")
    if math.isnan(seconds):
        raise ValueError(f"{value!r} is not a duration")
    return seconds


def to_seconds(value: float | str) -> float:
    """A workflow's duration value: a number of seconds as it is, a string parsed."""
    if isinstance(value, int | float):
        return float(value)
    return parse_duration(str(value))


def format_duration(seconds: float) -> str:
    """The shortest exact way to write ``seconds`` (``90`` → ``90s``, ``120`` → ``2m``)."""
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"

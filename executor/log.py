"""Logging: loguru, as text for people at a terminal and as JSON lines for machines.

Context is bound, not formatted into messages (``logger.bind(run_id=...)``), so that the
JSON form carries it as fields. Libraries that log through the standard `logging` module
(hypercorn, yoyo) are routed into the same sink.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any, TextIO

from loguru import logger

_TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<level>{message}</level>{extra[_context]}"
)


def _json_sink(stream: TextIO) -> Callable[[Any], None]:
    def sink(message: Any) -> None:
        record = message.record
        entry: dict[str, Any] = {
            "time": record["time"].isoformat(),
            "level": record["level"].name.lower(),
            "message": record["message"],
        }
        entry.update({k: v for k, v in record["extra"].items() if not k.startswith("_")})
        if record["exception"] is not None:
            entry["exception"] = "".join(traceback.format_exception(*record["exception"])).rstrip()
        stream.write(json.dumps(entry, default=str) + "\n")
        stream.flush()

    return sink


def _add_text_context(record: Any) -> None:
    extra = {k: v for k, v in record["extra"].items() if not k.startswith("_")}
    record["extra"]["_context"] = " " + " ".join(f"{k}={v}" for k, v in extra.items()) if extra else ""


class _InterceptHandler(logging.Handler):
    """Send standard-library log records to loguru, keeping their level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.bind(logger=record.name).opt(exception=record.exc_info).log(level, record.getMessage())


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Route every log line to ``stream`` (stderr by default) at ``level`` and above."""
    stream = stream or sys.stderr
    logger.remove()
    logger.configure(patcher=_add_text_context if fmt == "text" else None)
    if fmt == "json":
        logger.add(_json_sink(stream), level=level.upper(), format="{message}")
    else:
        logger.add(
            stream,
            level=level.upper(),
            format=_TEXT_FORMAT,
            colorize=stream.isatty(),
            backtrace=False,
            diagnose=False,
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from loguru import logger

from executor import log


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    log.configure()


def test_json_lines_carry_bound_context() -> None:
    stream = io.StringIO()
    log.configure("info", "json", stream)
    logger.bind(run_id="r1", step="build").info("step {} started", "build")
    logger.debug("not shown below info")
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "step build started"
    assert entry["level"] == "info"
    assert (entry["run_id"], entry["step"]) == ("r1", "build")
    assert "time" in entry


def test_text_lines_show_context_after_the_message() -> None:
    stream = io.StringIO()
    log.configure("debug", "text", stream)
    logger.bind(run_id="r1").debug("hello")
    assert stream.getvalue().rstrip().endswith("hello run_id=r1")


def test_standard_logging_reaches_the_same_sink() -> None:
    stream = io.StringIO()
    log.configure("info", "json", stream)
    logging.getLogger("hypercorn.error").error("socket trouble")
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["message"] == "socket trouble" and entry["logger"] == "hypercorn.error"

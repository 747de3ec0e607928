"""Acceptance tests run the real executor: the CLI (``python -m executor``) and the frozen
binary from ``dist/`` (built by ``scripts/build-binary``; ``scripts/test`` builds it first)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process import BINARY, CLI, Server


@pytest.fixture(params=["cli", pytest.param("binary", marks=pytest.mark.binary)])
def executor(request: pytest.FixtureRequest) -> list[str]:
    """The command that runs executor: each test runs once per way it ships."""
    if request.param == "cli":
        return CLI
    if not BINARY.is_file():
        message = f"no binary at {BINARY}: run scripts/build-binary"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return [str(BINARY)]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Collects the servers a test starts, and kills any it left running."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()

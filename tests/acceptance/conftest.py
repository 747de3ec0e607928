"""Acceptance tests run the real executor: the CLI (``python -m executor``) and the frozen
binary from ``dist/`` (built by ``scripts/build-binary`` when a selected test needs it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process import CLI, Server


@pytest.fixture(params=["cli", pytest.param("binary", marks=pytest.mark.binary)])
def executor(request: pytest.FixtureRequest) -> list[str]:
    """The command that runs executor: each test runs once per way it ships."""
    if request.param == "cli":
        return CLI
    return [str(request.getfixturevalue("frozen_binary"))]


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

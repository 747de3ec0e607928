"""A database Executor cannot use is one clear line and exit 1 within seconds, whatever the
command: a read-only file system (a real read-only tmpfs), a path that is a directory, a
missing folder. Before, a read-only file system meant two silent minutes waiting for a
migration lock that could never be taken."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process import run

COMMANDS = [["migrate"], ["serve", "--port", "0"]]


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs mounted read-only, holding a migrated database made while it was writable."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _one_clear_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("executor: error:")]
    assert len(errors) == 1, result.stderr
    for text in expected:
        assert text in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_read_only_file_system_is_named_at_once(
    executor: list[str], workdir: Path, read_only_folder: Path, command: list[str]
) -> None:
    database = f"sqlite:///{read_only_folder / 'executor.db'}"
    migrated = run(executor, "migrate", "--database", database, cwd=workdir)
    assert migrated.returncode == 0, migrated.stderr
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_folder)], check=True)
    # Within seconds, not the lock timeout: `run` gives up after 20.
    result = run(executor, *command, "--database", database, cwd=workdir, timeout=20)
    _one_clear_line(result, str(read_only_folder), "read-only file system")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_new_database_on_a_read_only_file_system_is_named_at_once(
    executor: list[str], workdir: Path, read_only_folder: Path, command: list[str]
) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_folder)], check=True)
    database = f"sqlite:///{read_only_folder / 'executor.db'}"
    result = run(executor, *command, "--database", database, cwd=workdir, timeout=20)
    _one_clear_line(result, "read-only file system")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_path_that_is_a_directory_is_named(executor: list[str], workdir: Path, command: list[str]) -> None:
    (workdir / "db").mkdir()
    result = run(executor, *command, "--database", f"sqlite:///{workdir / 'db'}", cwd=workdir, timeout=20)
    _one_clear_line(result, "is a directory")

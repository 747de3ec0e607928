"""Attempts' scratch folders outlive no process: the folder of a process that was killed
(its lock free) is deleted by the next one; a living process's (its lock held) never is."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from executor.artifacts import scratch

HOLD = """
import fcntl, os, sys
lock = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(lock, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def leftover(base: Path, name: str) -> Path:
    folder = base / f"{scratch.PREFIX}{name}"
    (folder / "executor-attempt-x" / "artifacts").mkdir(parents=True)
    (folder / "executor-attempt-x" / "artifacts" / "big.bin").write_bytes(b"x" * 1000)
    (folder / scratch.LOCK).touch()
    return folder


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A folder whose process lives (another process holds its lock)."""
    folder = leftover(tmp_path, "1-live")
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder / scratch.LOCK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        yield folder, process
        process.kill()


def test_the_folder_of_a_dead_process_goes_that_of_a_live_one_stays(
    tmp_path: Path, holder: tuple[Path, subprocess.Popen[str]]
) -> None:
    live, process = holder
    dead = leftover(tmp_path, "2-dead")  # its process was killed: nobody holds its lock
    unlocked = tmp_path / f"{scratch.PREFIX}3-other"
    unlocked.mkdir()  # not one of ours: no lock file
    assert scratch.sweep(tmp_path) == 1
    assert not dead.exists()
    assert live.is_dir() and unlocked.is_dir()
    process.kill()  # as kill -9: the kernel lets go of the lock
    process.wait()
    assert scratch.sweep(tmp_path) == 1
    assert not live.exists() and unlocked.is_dir()


def test_this_processs_folder_is_locked_and_left_alone(tmp_path: Path) -> None:
    mine = scratch.folder()
    assert mine.name.startswith(scratch.PREFIX) and mine.is_dir()
    assert scratch.folder() == mine, "one per process"
    assert scratch.sweep(mine.parent) >= 0
    assert mine.is_dir(), "its lock is held: another process's sweep leaves it"

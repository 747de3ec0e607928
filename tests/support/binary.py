"""The frozen binary, ``dist/executor``: built by ``scripts/build-binary`` only when a selected
test needs it (those are marked ``binary``), so that an edit–test loop on other tests never
waits the minute a build takes.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.process import BINARY, ROOT

# What the binary is built from: a file here newer than the binary means it is stale.
SOURCES = ["executor", "migrations", "build.spec", "constraints.txt", "pyproject.toml"]


def _newest(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    # Bytecode caches are written by running the tests, not by editing: they change nothing.
    files = (p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return max((p.stat().st_mtime for p in files), default=0.0)


def stale() -> str | None:
    """Why ``dist/executor`` must be (re)built, or None when it is newer than all its sources."""
    if not BINARY.is_file():
        return "missing"
    built = BINARY.stat().st_mtime
    changed = [name for name in SOURCES if _newest(ROOT / name) > built]
    return f"older than {', '.join(changed)}" if changed else None


def ensure_built(say: Callable[[str], object] = print) -> str | None:
    """Build the binary unless it is current; return why it cannot be had, or None."""
    if BINARY != ROOT / "dist" / "executor":
        # EXECUTOR_BINARY names a binary built elsewhere: test that one, never rebuild it.
        return None if BINARY.is_file() else f"no binary at {BINARY}"
    # One build at a time, even from several pytest processes sharing this tree.
    (ROOT / "build").mkdir(exist_ok=True)
    with (ROOT / "build" / ".build-binary.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reason = stale()
        if reason is None:
            return None
        say(f"building {BINARY.relative_to(ROOT)} ({reason}) with scripts/build-binary ...")
        built = subprocess.run(
            [str(ROOT / "scripts" / "build-binary")], cwd=ROOT, capture_output=True, text=True
        )
    if built.returncode != 0:
        tail = "\n".join((built.stdout + built.stderr).strip().splitlines()[-20:])
        return f"scripts/build-binary failed (exit {built.returncode}):\n{tail}"
    return None


def require(unavailable: str | None) -> Path:
    """The binary for a test; without one the test is skipped, except under ``CI=true``,
    where it fails: CI must never pass by skipping the binary."""
    if unavailable is None:
        return BINARY
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {unavailable}", pytrace=False)
    pytest.skip(unavailable)

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


def ensure_built(say: Callable[[str], object] = print) -> Path:
    """Build the binary unless it is current; fail the test when it cannot be had.

    Without a binary the tests that need it are skipped, except under ``CI=true``, where a
    failed build fails them: CI must never pass by skipping the binary.
    """
    if BINARY != ROOT / "dist" / "executor":
        # EXECUTOR_BINARY names a binary built elsewhere: test that one, never rebuild it.
        return BINARY if BINARY.is_file() else _unavailable(f"no binary at {BINARY}")
    # One build at a time, even from several pytest processes sharing this tree.
    (ROOT / "build").mkdir(exist_ok=True)
    with (ROOT / "build" / ".build-binary.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reason = stale()
        if reason is None:
            return BINARY
        say(f"building {BINARY.relative_to(ROOT)} ({reason}) with scripts/build-binary ...")
        built = subprocess.run(
            [str(ROOT / "scripts" / "build-binary")], cwd=ROOT, capture_output=True, text=True
        )
    if built.returncode != 0:
        tail = "\n".join((built.stdout + built.stderr).strip().splitlines()[-20:])
        return _unavailable(f"scripts/build-binary failed (exit {built.returncode}):\n{tail}")
    return BINARY


def _unavailable(reason: str) -> Path:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)

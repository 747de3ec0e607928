"""Where attempts' scratch folders live, and who cleans up after a process that was killed.

An attempt's folder (`workspace`) is removed when the attempt ends, but a process killed
with ``kill -9`` ends no attempt: its folders, with every file its commands left for upload
(hundreds of MB, maybe), would stay in the temporary directory for good. So each process
keeps its attempts' folders in one folder of its own, ``executor-attempts-<pid>-<random>``,
holding an exclusive `flock` on its ``.lock`` file while it lives (the kernel lets go of
it however the process ends). A process that makes its folder deletes every other one whose
lock it can take: those of processes that are gone. Two services on one host never touch each
other's; a folder of another user is not opened at all (they are made 0700).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

PREFIX = "executor-attempts-"
LOCK = ".lock"

_guard = threading.Lock()
_held: tuple[Path, int] | None = None  # this process's folder and its lock's descriptor


def folder() -> Path:
    """This process's folder of attempt folders, made (and the leftovers of dead processes
    deleted) at the first call. Blocking: call it from a thread."""
    global _held
    with _guard:
        if _held is None:
            base = Path(tempfile.gettempdir())
            sweep(base)
            _held = _make(base)
            atexit.register(_remove)
        return _held[0]


def sweep(base: Path) -> int:
    """Delete the folders under ``base`` of processes that ended without deleting theirs;
    return how many."""
    removed = 0
    with os.scandir(base) as entries:
        found = [e.path for e in entries if e.name.startswith(PREFIX) and e.is_dir(follow_symlinks=False)]
    for path in found:
        try:
            lock = os.open(os.path.join(path, LOCK), os.O_RDONLY)
        except OSError:  # not one of ours (no lock), or another user's
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its process lives
            os.close(lock)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        finally:
            os.close(lock)
    return removed


def _make(base: Path) -> tuple[Path, int]:
    # Locked under a name the sweep ignores, then renamed: a sweep of another process never
    # sees the folder unlocked.
    fresh = Path(tempfile.mkdtemp(prefix=".executor-new-", dir=base))
    lock = os.open(fresh / LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    named = base / f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(fresh, named)
    return named, lock


def _remove() -> None:
    """At a normal exit: the folder goes now (its attempts have ended)."""
    global _held
    with _guard:
        # Not from a forked child: the folder is its parent's.
        if _held is not None and _held[0].name.startswith(f"{PREFIX}{os.getpid()}-"):
            shutil.rmtree(_held[0], ignore_errors=True)
            os.close(_held[1])
            _held = None

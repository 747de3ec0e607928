"""Living as the one-file binary's child process.

PyInstaller's one-file bootloader unpacks the bundle and runs Executor in a child process,
forwarding the signals it gets. Two consequences, both handled here:

* In a terminal, Ctrl-C reaches the whole foreground process group: the child would get
  SIGINT twice (from the terminal, and forwarded), and a second signal means "stop at
  once". The child leaves the group, so it hears each signal once, through the bootloader.
* ``kill -9`` of the bootloader (the pid a user or a supervisor knows) would leave the
  child running. The child asks the kernel to kill it when its parent dies.

The bootloader unpacks afresh at every launch, so the bundle keeps the time zone database
as one zip (`TZDATA_ZIP`, made by build.spec) that `use_bundled_tzdata` puts on the path.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1
# The tzdata package zipped, at the top of the unpacked bundle (build.spec).
TZDATA_ZIP = "tzdata.zip"


def command(entry: str) -> list[str]:
    """How to start this program again as its hidden command ``entry`` (a supervisor, a
    render worker): the frozen binary is its own interpreter, and its bootloader reuses the
    files it unpacked; else this Python runs the package."""
    python = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "executor"]
    return [*python, entry]


def use_bundled_tzdata() -> None:
    """In the binary, make the bundled tzdata importable: zoneinfo falls back to it for the
    time zones of schedules on a host without /usr/share/zoneinfo. Elsewhere nothing happens
    (tzdata is an installed package)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        sys.path.append(os.path.join(bundle, TZDATA_ZIP))


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (more exactly: when the thread
    that forked it ends). Elsewhere, or where it cannot be asked, nothing happens."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # here: only the binary's processes and render workers ask, and it is slow to import

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _is_bootloader_child() -> bool:
    if not getattr(sys, "frozen", False):
        return False
    try:
        return os.readlink(f"/proc/{os.getppid()}/exe") == os.readlink("/proc/self/exe")
    except OSError:
        return False


def adopt_bootloader() -> None:
    if not _is_bootloader_child():
        return
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the bootloader died before we asked
        os._exit(1)
    try:
        os.setpgid(0, 0)
    except OSError:
        pass

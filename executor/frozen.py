"""Living as the one-file binary's child process.

PyInstaller's one-file bootloader unpacks the bundle and runs Executor in a child process,
forwarding the signals it gets. Two consequences, both handled here:

* In a terminal, Ctrl-C reaches the whole foreground process group: the child would get
  SIGINT twice (from the terminal, and forwarded), and a second signal means "stop at
  once". The child leaves the group, so it hears each signal once, through the bootloader.
* ``kill -9`` of the bootloader (the pid a user or a supervisor knows) would leave the
  child running. The child asks the kernel to kill it when its parent dies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


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
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the bootloader died before we asked
        os._exit(1)
    try:
        os.setpgid(0, 0)
    except OSError:
        pass

"""Nothing a shell step starts outlives the service that started it.

When the service dies, however it dies (``kill -9`` included; for the one-file binary,
`executor.frozen` makes the Python process die with the bootloader), the commands its
shell steps started are killed within milliseconds: none is left running, and a restarted
service never runs a step's new attempt beside the leftover of the attempt it replaces.

How: one small process per service, the supervisor, reads a pipe from the service. The
service writes a line for every process group it starts a command in (the shell action
gives each command a group of its own) and ends, and one for each instance id its commands
carry in ``EXECUTOR_INSTANCE_ID``. The kernel closes the pipe when the service ends, so
end of file is the supervisor's one signal: it SIGKILLs every group still known, then every
process whose environment carries one of those instance ids (a command that left its group,
or one started in the instant before the service could tell), and exits.

Why one per service: a command costs two writes of a few bytes, not one more process; the
supervisor lives in a session of its own, so that Ctrl-C or a kill of the service's
process group leaves it to do its work. A parent-death signal on each command would reach
only the command's first process (``sh -c`` forks children that survive it).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator

from executor import frozen

# The hidden command that runs the supervisor: `executor __supervise` (executor/__main__.py).
ENTRY = "__supervise"
INSTANCE_VARIABLE = "EXECUTOR_INSTANCE_ID"
# How long the last sweep may take: a killed process leaves /proc within milliseconds.
SWEEP_TIMEOUT = 5.0

Environment = frozenset[bytes]  # a process's environment, as NAME=value entries


class Supervisor:
    """The service's end: tells the supervisor what runs. The supervisor starts with `start`
    (the runtime calls it when it opens), else with the first command.

    Every call is one write of a few bytes to a pipe, atomic at that size. When the
    supervisor cannot be started or is gone, commands run unsupervised (logged once).
    """

    def __init__(self) -> None:
        self._pipe: int | None = None
        self._pid = 0
        self._instances: set[str] = set()
        self._failed = False

    def expect(self, instance: str) -> None:
        """Before a command of ``instance`` starts: its processes carry the instance id."""
        if instance and instance not in self._instances:
            self._instances.add(instance)
            self._send(f"i{instance}\n")

    def started(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def ended(self, pgid: int) -> None:
        """The group is gone (its command ended, and what it left was killed)."""
        self._send(f"-{pgid}\n")

    def start(self) -> None:
        """Start the supervisor now, not with the first command (idempotent)."""
        if self._pipe is None and not self._failed:
            self._pipe = self._spawn()

    def _send(self, line: str) -> None:
        self.start()
        if self._pipe is None:
            return
        try:
            os.write(self._pipe, line.encode())
        except OSError as exc:
            self._fail(f"its supervisor is gone ({exc.strerror})")

    def _spawn(self) -> int | None:
        read, write = os.pipe()  # both ends close on exec: commands hold neither
        argv = frozen.command(ENTRY)
        try:
            self._pid = os.posix_spawn(
                argv[0],
                argv,
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                ],
                setsid=True,
            )
        except (OSError, NotImplementedError) as exc:  # NotImplementedError: no setsid here
            os.close(write)
            self._fail(f"no supervisor could be started ({exc})")
            return None
        finally:
            os.close(read)
        return write

    def _fail(self, why: str) -> None:
        from loguru import logger  # here: the supervisor process starts faster without it

        logger.warning("commands of shell steps would survive this service's death: {}", why)
        self._failed = True
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._pid:
            try:
                os.waitpid(self._pid, os.WNOHANG)
            except ChildProcessError:
                pass


def main() -> None:
    """The supervisor: follow the service's lines until the pipe ends, then kill what is left."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # it ends with the service, never before
    groups: set[int] = set()
    marks: set[bytes] = set()
    for line in sys.stdin.buffer:
        if not line.endswith(b"\n"):  # never written: each line is one write
            break
        kind, value = line[:1], line[1:-1]
        if kind == b"+":
            groups.add(int(value))
        elif kind == b"-":
            groups.discard(int(value))
        elif kind == b"i":
            marks.add(f"{INSTANCE_VARIABLE}=".encode() + value)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    sweep(lambda env: not env.isdisjoint(marks), SWEEP_TIMEOUT)


def sweep(match: Callable[[Environment], bool], timeout: float) -> int:
    """SIGKILL every process this user owns whose environment ``match``es, until none is
    left (or ``timeout`` passes); return how many were found at first."""
    deadline = time.monotonic() + timeout
    first: int | None = None
    while True:
        found = [pid for pid, env in environments() if match(env)]
        first = len(found) if first is None else first
        if not found or time.monotonic() > deadline:
            return first
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)  # a killed process leaves (or turns zombie, environment empty) soon


def environments() -> Iterator[tuple[int, Environment]]:
    """Each process whose environment this one may read, but this one, with its environment."""
    me = os.getpid()
    try:
        names = os.listdir("/proc")
    except OSError:  # no /proc: nothing to find
        return
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as file:
                data = file.read()
        except OSError:  # gone, or another user's
            continue
        yield int(name), frozenset(data.split(b"\0"))

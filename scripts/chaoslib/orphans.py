"""Commands found by the variables in their environment (/proc/PID/environ): those of one
incarnation still alive after its kill, and whatever of this invocation is left at the end."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from scripts.chaoslib.figures import CommandKey
from scripts.chaoslib.settings import INSTANCE_VARIABLE, SESSION_VARIABLE


def _environments() -> dict[int, dict[str, str]]:
    """Pid -> environment of every live process of ours (a zombie's reads empty)."""
    found: dict[int, dict[str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
        found[int(entry.name)] = {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}
    return found


def commands(session: str) -> dict[str, set[CommandKey]]:
    """Incarnation -> the shell commands it started that are alive (each attempt once,
    however many processes it has), among those of this invocation (``session``)."""
    found: dict[str, set[CommandKey]] = {}
    for env in _ours(session).values():
        incarnation = env.get(INSTANCE_VARIABLE)
        if incarnation is None or "EXECUTOR_RUN_ID" not in env:
            continue  # not a command: the service, its supervisor
        attempt = int(env.get("EXECUTOR_ATTEMPT", "0"))
        key = (incarnation, env["EXECUTOR_RUN_ID"], env.get("EXECUTOR_STEP_ID", ""), attempt)
        found.setdefault(incarnation, set()).add(key)
    return found


def kill_leftovers(session: str, patience: float = 5.0) -> list[str]:
    """Once ``patience`` s have passed (a supervisor may be sweeping), SIGKILL every process
    this invocation's services started that is still alive; what each was (``command <run>
    <step>``, or its command line)."""
    deadline = time.monotonic() + patience
    while _ours(session) and time.monotonic() < deadline:
        time.sleep(0.1)
    killed: list[str] = []
    for pid, env in _ours(session).items():
        try:
            program = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            os.kill(pid, signal.SIGKILL)
        except OSError:  # gone meanwhile
            continue
        if "EXECUTOR_RUN_ID" in env:
            killed.append(f"command {env['EXECUTOR_RUN_ID']} {env.get('EXECUTOR_STEP_ID', '')} (pid {pid})")
        else:
            killed.append(f"{program.strip()[:120]} (pid {pid})")
    return killed


def _ours(session: str) -> dict[int, dict[str, str]]:
    return {
        pid: env
        for pid, env in _environments().items()
        if env.get(SESSION_VARIABLE) == session and pid != os.getpid()
    }

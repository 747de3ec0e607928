"""The supervisor of commands on its own: a stand-in service (a Python process using
`Supervisor`) starts commands and is killed with SIGKILL; what it started must die."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.process import pid_alive
from tests.support.waiting import wait_until

# Starts the supervisor, then two commands in sessions of their own, as the shell action
# does: one it tells the supervisor about (whose process clears its environment, so only
# its group gives it away), one it does not (as if killed before it could tell), which
# carries the instance id. Prints both pids, then waits to be killed.
SERVICE = """
import os, subprocess, sys, time
from executor.supervisor import Supervisor

supervisor = Supervisor()
supervisor.start()
supervisor.expect("stand-in-1")
env = {**os.environ, "EXECUTOR_INSTANCE_ID": "stand-in-1"}
told = subprocess.Popen(["/bin/sh", "-c", "env -i sleep 300; true"], env=env, start_new_session=True)
supervisor.started(told.pid)
untold = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
print(told.pid, untold.pid, flush=True)
time.sleep(300)
"""


def test_a_dead_services_commands_die_whether_or_not_it_told_the_supervisor(tmp_path: Path) -> None:
    started: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", SERVICE], stdout=subprocess.PIPE, cwd=tmp_path, text=True
    ) as service:
        try:
            assert service.stdout is not None
            told, untold = (int(pid) for pid in service.stdout.readline().split())
            started += [told, untold]
            wait_until(lambda: len(_group(told)) == 2, what="the told command's child")
            started += _group(told)
            service.send_signal(signal.SIGKILL)
            service.wait(10)
            wait_until(lambda: not any(pid_alive(pid) for pid in started), timeout=5, interval=0.005)
        finally:
            service.kill()
            for pid in started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _group(pgid: int) -> list[int]:
    """The processes of group ``pgid``."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                members.append(int(name))
    return members

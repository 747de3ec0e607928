"""A retried attempt never runs beside what an earlier attempt of its step left running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from executor.actions.context import Attempt
from executor.actions.shell import Shell
from tests.support.engine import Harness
from tests.support.process import pid_alive

# Starts a process in a session of its own (out of reach of its group's kill), writes its
# pid to {pid}, and waits until it has left the group (its session id is its pid).
ESCAPE = """setsid sleep 300 >/dev/null 2>&1 & echo $! > {pid}
until [ "$(cut -d' ' -f6 /proc/$!/stat)" = $! ]; do sleep 0.01; done
"""
# Attempt 1 escapes and fails; attempt 2 says how it finds that process: gone, or a zombie
# (Z), or running.
SCRIPT = """
if [ "$EXECUTOR_ATTEMPT" = 1 ]; then
  {escape}
  exit 1
fi
cut -d' ' -f3 /proc/$(cat {pid})/stat 2>/dev/null || echo gone
"""


@pytest.fixture
def pid(tmp_path: Path) -> Iterator[Path]:
    """Where a command writes the pid of the process it leaves; killed at teardown."""
    path = tmp_path / "pid"
    yield path
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(path.read_text()), signal.SIGKILL)


async def test_a_retry_first_kills_what_the_earlier_attempt_left(harness: Harness, pid: Path) -> None:
    step = {
        "id": "s",
        "action": "shell",
        "retry": {"max_attempts": 2, "delay": "10ms"},
        "with": {"command": SCRIPT.format(escape=ESCAPE.format(pid=pid), pid=pid)},
    }
    run_id = await harness.submit(json.dumps({"name": "leftover", "steps": [step]}, indent=1))
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["s"].attempt == 2
    assert steps["s"].output["stdout"].strip() in ("gone", "Z")
    assert not pid_alive(int(await asyncio.to_thread(pid.read_text)))


async def test_other_steps_processes_are_left_alone(harness: Harness, pid: Path) -> None:
    other = {
        "id": "other",
        "action": "shell",
        "with": {"command": ESCAPE.format(pid=pid)},
    }
    retried = {
        "id": "retried",
        "action": "shell",
        "needs": ["other"],
        "retry": {"max_attempts": 2, "delay": "10ms"},
        "with": {"command": '[ "$EXECUTOR_ATTEMPT" = 2 ]'},
    }
    run_id = await harness.submit(json.dumps({"name": "neighbours", "steps": [other, retried]}, indent=1))
    run, _ = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert pid_alive(int(await asyncio.to_thread(pid.read_text)))


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_a_cancel_while_the_command_starts_ends_all_of_it_at_once(turns: int) -> None:
    # `sleep; true`: the shell forks the sleep (no exec of a last command), which holds the
    # output pipes; cancelled at any point of the start, the attempt must not wait for it.
    marker = f"{30 + turns}.{os.getpid()}"
    attempt = Attempt(
        run_id="r", step_id="s", item_index=-1, attempt=1, idempotency_key=f"r:s:{marker}",
        params={"command": f"sleep {marker}; true"}, state={}, log=lambda stream, line: None,
    )  # fmt: skip
    task = asyncio.create_task(Shell.run(attempt))
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    async with asyncio.timeout(10):  # the sleep lasts 30 s and more
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and marker.encode() in _cmdline(pid)], (
        "the command's sleep outlived the cancel"
    )


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""

"""No orphans, no overlap: nothing a shell step starts outlives the service (``kill -9`` of
the CLI, or of the one-file binary's bootloader, included), and a retried attempt never runs
beside the leftover of the attempt it replaces."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import client
from tests.support.process import Server, clean_env, pid_alive, run
from tests.support.waiting import wait_until

# Starts a process that leaves the command's process group (a session of its own), writes
# its pid, and waits until it has left (its session id is its pid).
ESCAPE = """setsid sleep 300 >/dev/null 2>&1 & echo $! > {pid}
until [ "$(cut -d' ' -f6 /proc/$!/stat)" = $! ]; do sleep 0.01; done"""

# A command with a child in its group, and one that escaped it.
LINGERING = """
name: lingering
steps:
  - id: s
    action: shell
    with:
      command: |
        {escape}
        sleep 300 & echo $! > {pids}/child
        echo $$ > {pids}/shell
        wait
"""

# Attempt 1 hangs (its child too) until the service is killed; attempt 2 writes down how it
# finds attempt 1's child: gone, or a zombie (state Z) waiting to be reaped, never running.
REPLACED = """
name: replaced
steps:
  - id: s
    action: shell
    retry: {{max_attempts: 3, delay: 10ms}}
    with:
      command: |
        if [ "$EXECUTOR_ATTEMPT" = 1 ]; then sleep 300 & echo $! > {pids}/old; wait; fi
        cut -d' ' -f3 /proc/$(cat {pids}/old)/stat > {pids}/seen 2>/dev/null || echo gone > {pids}/seen
"""


@pytest.fixture
def pids(workdir: Path) -> Iterator[Path]:
    """A folder where commands write pids; whatever they name is killed at teardown (a test
    that fails must not leave commands running for minutes)."""
    folder = workdir / "pids"
    folder.mkdir()
    yield folder
    for file in folder.iterdir():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(file.read_text()), signal.SIGKILL)


def serve(executor: list[str], workdir: Path, servers: list[Server]) -> Server:
    server = Server(executor, workdir, ["--poll-interval", "100ms", "--skip-migrations"], clean_env())
    servers.append(server)
    return server.start().wait_running()


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def read_pids(folder: Path, *names: str) -> dict[str, int] | None:
    texts = {name: (folder / name).read_text() if (folder / name).exists() else "" for name in names}
    if not all(text.endswith("\n") for text in texts.values()):
        return None
    return {name: int(text) for name, text in texts.items()}


@pytest.mark.slow
def test_sigkill_of_the_service_kills_every_command_it_started_within_milliseconds(
    executor: list[str], workdir: Path, servers: list[Server], pids: Path
) -> None:
    url = f"sqlite:///{workdir / 'executor.db'}"
    assert run(executor, "migrate", cwd=workdir).returncode == 0
    flow = LINGERING.format(pids=pids, escape=ESCAPE.format(pid=pids / "escaped").replace("\n", "\n        "))
    client.submit(url, flow, [None])
    server = serve(executor, workdir, servers)
    started = wait_until(lambda: read_pids(pids, "shell", "child", "escaped"), what="the command's processes")
    assert server.process is not None
    below = descendants(server.process.pid)
    assert set(started.values()) <= below
    supervisors = [pid for pid in below if b"__supervise" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(supervisors) == 1, "one supervisor per service"

    # The service alone (for the binary: its bootloader), not its process group.
    server.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    wait_until(
        lambda: not any(pid_alive(pid) for pid in below),
        timeout=5,
        interval=0.002,
        what=f"every process the service started to die: {sorted(p for p in below if pid_alive(p))}",
    )
    elapsed = time.monotonic() - killed
    print(f"every command gone {elapsed * 1000:.0f} ms after kill -9 of the service")
    # Milliseconds in fact; a loaded two-core machine may take longer to schedule.
    assert elapsed < 2.0
    server.wait_exit(10)


@pytest.mark.slow
def test_a_restarted_service_never_runs_a_new_attempt_beside_the_old_ones_leftover(
    executor: list[str], workdir: Path, servers: list[Server], pids: Path
) -> None:
    url = f"sqlite:///{workdir / 'executor.db'}"
    assert run(executor, "migrate", cwd=workdir).returncode == 0
    [run_id] = client.submit(url, REPLACED.format(pids=pids), [None])
    server = serve(executor, workdir, servers)
    old = wait_until(lambda: read_pids(pids, "old"), what="attempt 1's child")["old"]
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.wait_exit(10)
    # At once: a restart on the same host reclaims the dead instance's steps without waiting.
    serve(executor, workdir, servers)
    seen = pids / "seen"
    wait_until(lambda: seen.exists() and seen.read_text().endswith("\n"), timeout=30, what="attempt 2")
    assert seen.read_text().strip() in ("gone", "Z"), "attempt 1's child still ran"
    assert not pid_alive(old)
    wait_until(lambda: client.runs(url, [run_id])[0][0].status == "succeeded", what="the run to succeed")
    [(_, [row])] = client.runs(url, [run_id])
    assert row.attempt == 2


def test_what_a_step_left_in_the_background_ends_with_executor_run(
    executor: list[str], workdir: Path, pids: Path
) -> None:
    flow = workdir / "flow.yaml"
    escape = ESCAPE.format(pid=pids / "daemon").replace("\n", "\n        ")
    flow.write_text(
        f"name: daemon\nsteps:\n  - id: s\n    action: shell\n    with:\n      command: |\n        {escape}\n"
    )
    finished = run(executor, "run", str(flow), cwd=workdir)
    assert finished.returncode == 0, finished.stderr
    daemon = int((pids / "daemon").read_text())
    wait_until(lambda: not pid_alive(daemon), timeout=5, interval=0.005, what="the daemon to be killed")

"""`executor serve --workers N`: real worker processes on one port and one database (a real
SQLite file, a real PostgreSQL database), driven over HTTP and with signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.process import CLI, Server, clean_env, pid_alive, run
from tests.support.waiting import wait_until

_ALL_RUNNING = re.compile(r"(\d+) workers running on http://[^:]+:(\d+)")

# Each step holds its worker's only slot until the test creates the file `go`, then says
# which instance ran it.
BARRIER_FLOW = """
name: barrier
steps:
  - id: hold
    action: shell
    with:
      command: "while [ ! -f {go} ]; do sleep 0.02; done; echo $EXECUTOR_INSTANCE_ID"
"""


def start(servers: list[Server], executor: list[str], cwd: Path, *args: str, **env: str) -> Server:
    server = Server(executor, cwd, ["--workers", "2", "--poll-interval", "100ms", *args], clean_env(**env))
    servers.append(server)
    server.start()

    def all_running() -> int | None:
        assert server.process is not None
        if server.process.poll() is not None:
            raise AssertionError(
                f"executor exited {server.process.returncode}:\n{server.log_path.read_text()}"
            )
        for line in server.log_lines():
            match = _ALL_RUNNING.search(line.get("message", ""))
            if match and line.get("worker") is None:
                assert match.group(1) == "2"
                return int(match.group(2))
        return None

    server.port = wait_until(all_running, 60, what="the parent's 'workers running' line")
    return server


def instances(server: Server) -> list[dict[str, Any]]:
    answer = server.get("/instances")
    assert answer.status_code == 200
    return list(answer.json()["instances"])


def running_workers(server: Server) -> list[dict[str, Any]]:
    """The instances that are running, which must be the parent's two children."""
    assert server.process is not None
    found = [i for i in instances(server) if i["state"] == "running"]
    assert len(found) == 2, found
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    assert sorted(i["pid"] for i in found) == sorted(int(pid) for pid in children)
    return found


def submit_barrier_runs(server: Server, go: Path, count: int) -> list[str]:
    flow = BARRIER_FLOW.format(go=go)
    assert httpx.post(
        server.url + "/workflows", content=flow, headers={"content-type": "application/yaml"}
    ).is_success
    ids = []
    for _ in range(count):
        answer = httpx.post(server.url + "/runs", json={"workflow": "barrier"})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def in_flight(server: Server) -> list[int]:
    return sorted(i["steps_in_flight"] for i in instances(server) if i["state"] in ("running", "draining"))


def run_of(server: Server, run_id: str) -> dict[str, Any]:
    answer = server.get(f"/runs/{run_id}")
    assert answer.status_code == 200
    return dict(answer.json())


@pytest.mark.slow
def test_two_workers_are_two_instances_that_both_run_steps(
    database_url: str, workdir: Path, servers: list[Server]
) -> None:
    server = start(servers, CLI, workdir, "--database", database_url, "--concurrency", "1")
    workers = running_workers(server)
    assert len({w["id"] for w in workers}) == 2

    # Two runs, one slot per worker: both steps run at once only if both workers claim.
    go = workdir / "go"
    ids = submit_barrier_runs(server, go, 2)
    wait_until(lambda: in_flight(server) == [1, 1], 30, what="one step in flight on each worker")
    go.touch()

    def finished() -> list[dict[str, Any]] | None:
        runs = [run_of(server, i) for i in ids]
        return runs if all(run["status"] == "succeeded" for run in runs) else None

    done = wait_until(finished, 30, what="both runs to succeed")
    ran_on = {run["steps"][0]["output"]["stdout"].strip() for run in done}
    assert ran_on == {w["id"] for w in workers}

    server.signal(signal.SIGTERM)
    assert server.wait_exit(30) == 0
    messages = [line["message"] for line in server.log_lines()]
    assert messages[-1] == "all workers stopped"


@pytest.mark.slow
def test_sigterm_drains_every_worker_and_exits_0(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    server = start(servers, executor, workdir, "--concurrency", "1", "--drain-delay", "500ms")
    go = workdir / "go"
    ids = submit_barrier_runs(server, go, 2)
    wait_until(lambda: in_flight(server) == [1, 1], 30, what="one step in flight on each worker")

    server.signal(signal.SIGTERM)
    # Both drain: they stop claiming, keep answering, and wait for their steps.
    wait_until(
        lambda: {i["state"] for i in instances(server)} == {"draining"}, 10, what="both workers draining"
    )
    assert server.get("/health/ready").status_code == 503
    assert server.process is not None and server.process.poll() is None
    go.touch()
    assert server.wait_exit(30) == 0
    with pytest.raises(httpx.ConnectError):
        server.get("/health/live")
    lines = server.log_lines()
    assert sum("told to stop: draining" in line["message"] for line in lines) == 2
    assert sum(line["message"] == "stopped" for line in lines) == 2
    assert not any(line.get("handed_back") for line in lines), "the drain waited for the steps"
    statuses = _statuses(workdir / "executor.db", ids)
    assert statuses == ["succeeded", "succeeded"]


@pytest.mark.slow
def test_a_second_signal_stops_every_worker_at_once(workdir: Path, servers: list[Server]) -> None:
    server = start(servers, CLI, workdir, "--drain-delay", "1h")
    server.signal(signal.SIGINT)
    wait_until(
        lambda: {i["state"] for i in instances(server)} == {"draining"}, 10, what="both workers draining"
    )
    server.signal(signal.SIGINT)
    assert server.wait_exit(15) == 0
    assert sum("told to stop at once" in line["message"] for line in server.log_lines()) == 2


def test_a_taken_port_fails_the_start_with_one_line(workdir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(CLI, "--workers", "2", "--port", str(port), "--log-level", "warning", cwd=workdir)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"executor: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


@pytest.mark.slow
def test_sigkill_of_one_worker_stops_the_other_and_exits_1(workdir: Path, servers: list[Server]) -> None:
    server = start(servers, CLI, workdir)
    victim, survivor = running_workers(server)
    os.kill(victim["pid"], signal.SIGKILL)
    assert server.wait_exit(30) == 1
    assert not pid_alive(survivor["pid"])
    lines = server.log_lines()
    index = {
        _pid_of(line["instance"]): line["worker"]
        for line in lines
        if "instance" in line and "running on" in line["message"]
    }
    errors = [line["message"] for line in lines if line["level"] == "error"]
    assert errors == [
        f"worker {index[victim['pid']]} (pid {victim['pid']}) was killed by SIGKILL "
        "without being told to: stopping the others"
    ]
    assert any(
        line["message"] == "stopped" and line.get("worker") == index[survivor["pid"]] for line in lines
    )
    with pytest.raises(httpx.ConnectError):
        server.get("/health/live")


@pytest.mark.slow
def test_workers_ignore_signals_sent_to_them_and_drain_when_the_parent_dies(
    workdir: Path, servers: list[Server]
) -> None:
    server = start(servers, CLI, workdir)
    first, second = running_workers(server)
    os.kill(first["pid"], signal.SIGTERM)
    wait_until(
        lambda: any("SIGTERM ignored" in line["message"] for line in server.log_lines()),
        10,
        what="the worker to log that it ignored SIGTERM",
    )
    assert server.get("/health").json() == {"state": "running"}
    assert {i["state"] for i in instances(server)} == {"running"}

    assert server.process is not None
    server.process.kill()  # the parent alone: its workers read end of file and drain
    server.wait_exit(10)
    wait_until(
        lambda: not pid_alive(first["pid"]) and not pid_alive(second["pid"]), 30, what="workers to exit"
    )
    assert sum("is gone: draining" in line["message"] for line in server.log_lines()) == 2
    assert _instance_states(workdir / "executor.db") == ["stopped", "stopped"]


@pytest.mark.slow
def test_systemd_hears_ready_once_both_workers_run_and_stopping_from_the_parent(
    workdir: Path, servers: list[Server]
) -> None:
    address = str(workdir / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(address)
        notify.settimeout(60)
        server = Server(CLI, workdir, ["--workers", "2"], clean_env(NOTIFY_SOCKET=address))
        servers.append(server)
        server.start()
        assert notify.recv(256) == b"READY=1"
        server.port = int(re.findall(r"running on http://[^:]+:(\d+)", server.log_path.read_text())[-1])
        running_workers(server)  # both registered and running when READY=1 came
        server.signal(signal.SIGTERM)
        assert server.wait_exit(30) == 0
        notify.setblocking(False)
        rest = []
        while True:
            try:
                rest.append(notify.recv(256))
            except BlockingIOError:
                break
    assert rest == [b"STOPPING=1"], "only the parent notifies, once each"


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--workers", "0"], {}, "0 is out of range (1..256)"),
        (["--workers", "x"], {}, "'x' is not a whole number"),
        ([], {"EXECUTOR_WORKERS": "-2"}, "-2 is out of range (1..256)"),
    ],
)
def test_bad_worker_counts_fail_with_one_line(
    workdir: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    result = run(CLI, "--port", "0", *args, cwd=workdir, env=clean_env(**env))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("executor: error: invalid --workers (EXECUTOR_WORKERS): ")
    assert says in lines[0] and "or auto" in lines[0]
    assert not (workdir / "executor.db").exists(), "nothing was started"


def _pid_of(instance_id: str) -> int:
    return int(instance_id.rsplit("-", 2)[1])  # host-pid-random (executor.runtime.new_instance_id)


def _statuses(db: Path, ids: list[str]) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [conn.execute("SELECT status FROM runs WHERE id = ?", (i,)).fetchone()[0] for i in ids]


def _instance_states(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM instances")]

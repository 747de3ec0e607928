"""Serving: health, the error shape, signals and drain, systemd notify, the instance registry."""

from __future__ import annotations

import signal
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest

from executor import __version__
from tests.support.process import Server, clean_env, run
from tests.support.waiting import wait_until


def start(servers: list[Server], executor: list[str], cwd: Path, *args: str, **env: str) -> Server:
    server = Server(executor, cwd, list(args), clean_env(**env))
    servers.append(server)
    return server.start().wait_running()


def test_serves_health_on_its_embedded_default(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    server = start(servers, executor, workdir)
    assert (workdir / "executor.db").is_file(), "the default database is ./executor.db"
    health = server.get("/health")
    assert health.status_code == 200 and health.json() == {"state": "running"}
    assert health.headers["x-executor-version"] == __version__
    assert server.get("/health/live").status_code == 200
    assert server.get("/health/ready").json() == {"state": "running"}


def test_unknown_routes_answer_404_in_the_error_shape(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    server = start(servers, executor, workdir)
    missing = server.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "no such route"}}
    assert missing.headers["x-executor-version"] == __version__
    wrong_method = httpx.post(server.url + "/health")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_and_ready_goes_503_before_the_port_closes(
    executor: list[str], workdir: Path, servers: list[Server], sig: signal.Signals
) -> None:
    server = start(servers, executor, workdir, "--drain-delay", "2s")
    server.signal(sig)
    seen = wait_until(lambda: _ready_status(server) == 503, what="/health/ready to answer 503")
    assert seen
    health = server.get("/health")
    assert health.status_code == 200 and health.json() == {"state": "draining"}
    assert server.wait_exit(30) == 0
    with pytest.raises(httpx.ConnectError):
        server.get("/health/live")
    messages = [line["message"] for line in server.log_lines()]
    assert any("draining" in m for m in messages) and messages[-1] == "stopped"


def test_a_second_signal_stops_at_once(executor: list[str], workdir: Path, servers: list[Server]) -> None:
    server = start(servers, executor, workdir, "--drain-delay", "1h")
    server.signal()
    wait_until(lambda: _ready_status(server) == 503, what="the drain to start")
    server.signal()
    assert server.wait_exit(15) == 0
    assert any("again" in line["message"] for line in server.log_lines())


def test_instance_registry_follows_the_lifecycle(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    server = start(servers, executor, workdir)
    db = workdir / "executor.db"
    assert _instance_states(db) == ["running"]
    server.signal()
    assert server.wait_exit(30) == 0
    assert _instance_states(db) == ["stopped"]


def test_skip_migrations_refuses_an_unmigrated_database(executor: list[str], workdir: Path) -> None:
    result = run(executor, "--skip-migrations", "--port", "0", cwd=workdir)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "executor migrate" in lines[0] and "Traceback" not in result.stderr
    assert not (workdir / "executor.db").exists(), "checking the schema must not create the database"


def test_skip_migrations_starts_on_a_migrated_database(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    assert run(executor, "migrate", cwd=workdir).returncode == 0
    server = start(servers, executor, workdir, "--skip-migrations")
    assert server.get("/health").status_code == 200


def test_a_taken_port_fails_the_start_with_one_line(executor: list[str], workdir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(executor, "--port", str(port), "--log-format", "json", cwd=workdir)
    assert result.returncode == 1
    assert f"executor: error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_systemd_notify_ready_and_stopping(executor: list[str], workdir: Path, servers: list[Server]) -> None:
    address = str(workdir / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(address)
        notify.settimeout(30)
        server = start(servers, executor, workdir, NOTIFY_SOCKET=address)
        assert notify.recv(256) == b"READY=1"
        server.signal()
        assert notify.recv(256) == b"STOPPING=1"
        assert server.wait_exit(30) == 0


def test_text_logs_when_asked(executor: list[str], workdir: Path) -> None:
    result = run(executor, "migrate", "--log-format", "text", cwd=workdir)
    assert result.returncode == 0
    assert "INFO" in result.stderr and "applying migration" in result.stderr


def _ready_status(server: Server) -> int | None:
    try:
        return server.get("/health/ready", timeout=2).status_code
    except httpx.TransportError:
        return None


def _instance_states(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM instances")]


def test_api_tokens_never_reach_the_log(executor: list[str], workdir: Path, servers: list[Server]) -> None:
    server = start(
        servers,
        executor,
        workdir,
        "--log-level",
        "trace",
        "--host",
        "127.0.0.1",
        EXECUTOR_API_TOKEN="tok-old-5f2a,tok-new-91c3",
    )
    server.get("/health")
    server.signal()
    assert server.wait_exit(30) == 0
    text = server.log_path.read_text()
    assert "tok-old-5f2a" not in text and "tok-new-91c3" not in text

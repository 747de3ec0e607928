"""SIGTERM and SIGINT are obeyed in every phase of the start, within a second or two, by
`executor serve`, `migrate` and `run`: while connecting to a PostgreSQL server that never
answers, while waiting for another process's migration lock, while opening the store, while
registering a folder of workflows. Before, a signal there waited for the phase to end (10 s
of connect timeout, 2 minutes of lock timeout) or killed the process outright.

Each test puts a real process in the phase, sees that it is there from a condition (a
connection reached the listener, a log line, a query waiting on a lock), signals it and
measures how long it takes to exit. `serve` exits 0 (a clean stop), `migrate` and `run`
exit 130 (they did not do what was asked); each says what it was doing in one line, and
leaves nothing half done behind: no migration applied, no lock, no workflow, no instance.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from executor import migrate
from executor.store.postgres import CLOSE_TIMEOUT
from executor.store.url import DatabaseURL
from tests.support import databases
from tests.support.blackhole import Blackhole
from tests.support.process import clean_env
from tests.support.waiting import wait_until

# From the signal to the end of the process: measured 0.1 to 0.6 s; the phases used to take
# 10 s to 2 minutes. The margin is for a loaded machine.
DEADLINE = 3.0
SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]

FLOW = """\
name: hello
steps:
  - id: say
    action: shell
    with: {command: [echo, hello]}
"""

_HOLD_LOCK = """
import sys, time
from yoyo import get_backend
backend = get_backend(sys.argv[1])
with backend.lock():
    print("locked", flush=True)
    time.sleep(600)
"""


@dataclass
class Started:
    """One executor process, its stdout and stderr in files."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def lines(self) -> list[dict[str, Any]]:
        """Its JSON log lines; other lines (progress, errors) as ``{"message": line}``."""
        parsed = []
        for raw in self.stderr.read_text(errors="replace").splitlines():
            try:
                parsed.append(json.loads(raw))
            except json.JSONDecodeError:
                parsed.append({"message": raw})
        return parsed

    def logged(self, text: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"exited with {self.process.returncode}:\n{self.stderr.read_text()}")
        return any(text in line.get("message", "") for line in self.lines())

    def stop(self, sig: signal.Signals) -> tuple[int, float]:
        """Signal it; return its exit code and the seconds it took to exit."""
        signalled = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(30)
        return code, time.monotonic() - signalled


@pytest.fixture
def start(executor: list[str], workdir: Path) -> Iterator[Any]:
    """Starts ``executor ARGS...`` (JSON logs); kills what a test left running."""
    started: list[Started] = []

    def launch(*args: str) -> Started:
        stdout, stderr = workdir / f"stdout-{len(started)}", workdir / f"stderr-{len(started)}"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [*executor, *args, "--log-format", "json"],
                cwd=workdir,
                env=clean_env(),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        started.append(Started(process, stdout, stderr))
        return started[-1]

    yield launch
    for each in started:
        if each.process.poll() is None:
            os.killpg(each.process.pid, signal.SIGKILL)
            each.process.wait(10)


def assert_stopped_at_once(
    started: Started,
    code: int,
    took: float,
    expected: int,
    sig: signal.Signals,
    phase: str,
    deadline: float = DEADLINE,
) -> None:
    stderr = started.stderr.read_text()
    assert code == expected, stderr
    assert took < deadline, f"took {took:.2f}s from {sig.name} to the exit:\n{stderr}"
    lines = started.lines()
    said = [line["message"] for line in lines if line["message"].startswith("received")]
    assert said == [f"received {sig.name} while {phase}: stopping"], stderr
    assert "Traceback" not in stderr, stderr
    assert not [line for line in lines if line.get("level") in ("error", "critical")], stderr


COMMANDS = [
    # (arguments, exit code, the phase its first connection belongs to)
    pytest.param(["migrate"], 130, "connecting to the database", id="migrate"),
    pytest.param(["serve", "--port", "0"], 0, "connecting to the database", id="serve"),
    pytest.param(
        ["serve", "--port", "0", "--skip-migrations"],
        0,
        "checking the database schema",
        id="serve-skip-migrations",
    ),
    pytest.param(["run", "flow.yaml", "--log-level", "info"], 130, "connecting to the database", id="run"),
]


@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize(("args", "expected", "phase"), COMMANDS)
def test_a_signal_while_connecting_to_a_server_that_never_answers_ends_at_once(
    start: Any, workdir: Path, args: list[str], expected: int, phase: str, sig: signal.Signals
) -> None:
    (workdir / "flow.yaml").write_text(FLOW)
    with Blackhole() as hole:
        started = start(*args, "--database", f"postgresql://executor@127.0.0.1:{hole.port}/executor")
        wait_until(lambda: hole.accepted, timeout=30, what="the connection to reach the server")
        code, took = started.stop(sig)
    assert_stopped_at_once(started, code, took, expected, sig, phase)
    if args[0] == "run":
        assert f"interrupted while {phase}: no run was started" in started.stderr.read_text()
        assert started.stdout.read_text() == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["migrate"], 130, id="migrate"),
        pytest.param(["serve", "--port", "0"], 0, id="serve"),
        pytest.param(["run", "flow.yaml", "--log-level", "info"], 130, id="run"),
    ],
)
def test_a_signal_while_waiting_for_the_migration_lock_ends_at_once_and_takes_nothing(
    start: Any, workdir: Path, empty_database_url: str, args: list[str], expected: int
) -> None:
    (workdir / "flow.yaml").write_text(FLOW)
    database = DatabaseURL.parse(empty_database_url)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, migrate.yoyo_url(database)],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = start(*args, "--database", empty_database_url)
        wait_until(
            lambda: started.logged("another process holds the migration lock"),
            timeout=30,
            what="the wait for the lock",
        )
        code, took = started.stop(signal.SIGTERM)
        assert _lock_holders(database) == [holder.pid], "the lock is the holder's alone"
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    assert_stopped_at_once(started, code, took, expected, signal.SIGTERM, "waiting for the migration lock")
    assert migrate.status(database).applied == [], "nothing was migrated"


@pytest.mark.postgres
def test_a_signal_while_the_store_connects_ends_at_once(start: Any, postgres_template: str) -> None:
    with databases.postgres_database(template=postgres_template) as url:
        server = urlsplit(url)
        target = (server.hostname or "127.0.0.1", server.port or 5432)
        # The schema check's one connection goes through; the store's hang. (Stopping its
        # pool logs psycopg's warnings about the attempts it gave up.)
        with Blackhole(target, forward=1) as hole:
            started = start("serve", "--port", "0", "--skip-migrations", "--database", hole.url(url))
            wait_until(lambda: hole.accepted >= 2, timeout=30, what="the store to connect")
            code, took = started.stop(signal.SIGTERM)
    # The store's pool gives its connection attempts CLOSE_TIMEOUT to end before it lets go.
    deadline = DEADLINE + CLOSE_TIMEOUT
    assert_stopped_at_once(started, code, took, 0, signal.SIGTERM, "opening the database", deadline)


@pytest.mark.postgres
def test_a_signal_while_registering_workflows_ends_at_once_and_registers_nothing(
    start: Any, workdir: Path, postgres_template: str
) -> None:
    (workdir / "flows").mkdir()
    (workdir / "flows" / "hello.yaml").write_text(FLOW)
    with databases.postgres_database(template=postgres_template) as url, psycopg.connect(url) as locker:
        # Held in a transaction: registering waits for it.
        locker.execute("LOCK TABLE workflows IN ACCESS EXCLUSIVE MODE")
        started = start(
            "serve", "--port", "0", "--skip-migrations", "--database", url, "--workflows", "flows"
        )
        wait_until(lambda: _waiting_on_a_lock(url), timeout=30, what="the registration to wait")
        assert started.logged("registering the workflows of flows")
        code, took = started.stop(signal.SIGTERM)
        locker.rollback()
        with psycopg.connect(url) as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM workflows), (SELECT count(*) FROM instances)"
            ).fetchone()
    phase = "opening the database and registering the workflows of flows"
    assert_stopped_at_once(started, code, took, 0, signal.SIGTERM, phase)
    assert counts == (0, 0), "a stopped start leaves no workflow and no instance"


def _waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def _lock_holders(database: DatabaseURL) -> list[int]:
    from yoyo import get_backend

    backend = get_backend(migrate.yoyo_url(database))
    try:
        return [row[0] for row in backend.execute("SELECT pid FROM yoyo_lock").fetchall()]
    finally:
        backend.connection.close()

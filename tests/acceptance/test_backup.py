"""`executor backup`: a consistent copy of a SQLite database while the service runs and
runs keep arriving; the copy, served, holds every run accepted before the backup began."""

from __future__ import annotations

import sqlite3
import stat
import threading
from contextlib import closing
from pathlib import Path

import httpx

from executor import migrate
from executor.store.url import DatabaseURL
from tests.support.process import Server, clean_env, run

FLOW = "name: tick\nsteps:\n  - {id: a, action: noop, with: {output: 1}}\n"


def _submit(client: httpx.Client) -> str:
    answer = client.post("/runs", json={"workflow": "tick"})
    assert answer.status_code == 201, answer.text
    run_id: str = answer.json()["id"]
    return run_id


def test_a_backup_under_load_holds_every_run_accepted_before_it_began(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    server = Server(executor, workdir, ["--port", "0"], clean_env())
    servers.append(server)
    server.start().wait_running()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        registered = client.post("/workflows", content=FLOW, headers={"content-type": "application/yaml"})
        assert registered.status_code == 201, registered.text
        before = [_submit(client) for _ in range(200)]
        # Runs keep arriving (and finishing) while the backup is taken.
        stop = threading.Event()
        during: list[str] = []

        def load() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as other:
                while not stop.is_set():
                    during.append(_submit(other))

        loader = threading.Thread(target=load)
        loader.start()
        try:
            result = run(executor, "backup", "copy.db", cwd=workdir)
        finally:
            stop.set()
            loader.join(30)
    assert result.returncode == 0, result.stderr
    assert during, "runs arrived while the backup was taken"
    copy = workdir / "copy.db"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert sorted(p.name for p in workdir.glob("copy.db*")) == ["copy.db"], "one file, nothing partial"
    restored = DatabaseURL.parse(f"sqlite:///{copy}")
    assert migrate.status(restored).current
    with closing(sqlite3.connect(copy)) as db:
        held = {row[0] for row in db.execute("SELECT id FROM runs")}
    assert set(before) <= held


def test_a_backup_never_overwrites_and_refuses_postgresql(executor: list[str], workdir: Path) -> None:
    assert run(executor, "migrate", cwd=workdir).returncode == 0
    (workdir / "taken.db").write_text("keep me")
    refused = run(executor, "backup", "taken.db", cwd=workdir)
    assert refused.returncode == 1
    assert "exists" in refused.stderr and "Traceback" not in refused.stderr
    assert (workdir / "taken.db").read_text() == "keep me"
    postgres = run(
        executor, "backup", "pg.db", "--database", "postgresql://postgres@127.0.0.1:1/x", cwd=workdir
    )
    assert postgres.returncode == 1
    assert "pg_dump" in postgres.stderr
    assert not (workdir / "pg.db").exists()

"""`executor purge` as a user runs it, against a real database (and one in use by a serving
executor), and `executor serve` deleting old runs by itself."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from executor.statuses import RunStatus
from executor.store import create_store
from executor.store.records import LogLine, NewStep
from executor.store.url import DatabaseURL
from tests.contract.helpers import new_run, run_of, set_run
from tests.support.databases import POOL_SIZE
from tests.support.process import CLI, Server, clean_env, run
from tests.support.waiting import wait_until

DAY = 86400.0
FLOW = "name: tick\nsteps:\n  - {id: a, action: noop, with: {output: 1}}\n"


def history(url: str, *, old: int, young: int, failed: int = 0) -> None:
    """Runs of 10 steps with a few KB of logs each: ``old`` (and ``failed`` of them failed)
    finished 10 days ago, ``young`` a day ago, and one still running."""

    async def make() -> None:
        async with create_store(DatabaseURL.parse(url), pool_size=POOL_SIZE) as store:
            for n in range(old + young + 1):
                run_id = await new_run(store, [NewStep(f"s{k}") for k in range(10)], name="w")
                rows = (await run_of(store, run_id))[1].values()
                await store.append_logs([LogLine(row.id, 1, "stdout", "x" * 1000, 0.0) for row in rows])
                if n == old + young:
                    await set_run(store, run_id, status=RunStatus.RUNNING)
                    continue
                status = RunStatus.FAILED if n < failed else RunStatus.SUCCEEDED
                ago = 10 * DAY if n < old else DAY
                await set_run(store, run_id, status=status, finished_at=time.time() - ago)

    asyncio.run(make())


def runs_left(url: str) -> int:
    async def count() -> int:
        async with create_store(DatabaseURL.parse(url), pool_size=POOL_SIZE) as store:
            return len(await store.list_runs(limit=1000))

    return asyncio.run(count())


def purge(url: str, *args: str, cwd: Path) -> tuple[int, str, str]:
    result = run(CLI, "purge", "--database", url, "--log-level", "warning", *args, cwd=cwd)
    return result.returncode, result.stdout.strip(), result.stderr.strip()


def file_size(url: str) -> int:
    path = DatabaseURL.parse(url).sqlite_path
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # what the WAL holds, written back
    return path.stat().st_size


def test_purge_deletes_old_finished_runs_and_says_how_many(database_url: str, tmp_path: Path) -> None:
    history(database_url, old=30, young=5, failed=10)

    assert purge(database_url, "--older-than", "7d", "--dry-run", cwd=tmp_path) == (
        0,
        "would delete 30 finished runs older than 7d",
        "",
    )
    assert purge(database_url, "--older-than", "7d", "--status", "failed", "--dry-run", cwd=tmp_path)[1] == (
        "would delete 10 failed runs older than 7d"
    )
    assert runs_left(database_url) == 36

    assert purge(database_url, "--older-than", "7d", "--status", "failed", cwd=tmp_path)[1] == (
        "deleted 10 failed runs older than 7d"
    )
    assert purge(database_url, "--older-than", "7d", "--workflow", "other", cwd=tmp_path)[1] == (
        "deleted 0 finished runs of workflow other older than 7d"
    )
    assert purge(database_url, "--older-than", "7d", "--workflow", "w", cwd=tmp_path)[1] == (
        "deleted 20 finished runs of workflow w older than 7d"
    )
    assert runs_left(database_url) == 6  # the young ones and the running one
    assert (
        purge(database_url, "--older-than", "0", cwd=tmp_path)[1] == "deleted 5 finished runs older than 0ms"
    )
    assert runs_left(database_url) == 1, "an unfinished run is never deleted"


def test_the_sqlite_file_gives_the_space_back(sqlite_url: str, tmp_path: Path) -> None:
    history(sqlite_url, old=150, young=0)
    before = file_size(sqlite_url)

    code, said, _ = purge(sqlite_url, "--older-than", "7d", cwd=tmp_path)

    assert (code, said) == (0, "deleted 150 finished runs older than 7d")
    after = file_size(sqlite_url)
    assert after < before / 4, (before, after)
    with closing(sqlite3.connect(DatabaseURL.parse(sqlite_url).sqlite_path)) as db:
        assert db.execute("PRAGMA freelist_count").fetchone() == (0,)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--older-than", "7x"], "executor: error: invalid --older-than: '7x' is not a duration"),
        (["--older-than", "-1"], "executor: error: invalid --older-than: '-1' is negative"),
        (
            ["--older-than", "7d", "--status", "running"],
            "executor: error: invalid --status: 'running' is not one of",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    sqlite_url: str, tmp_path: Path, args: list[str], error: str
) -> None:
    history(sqlite_url, old=1, young=0)

    code, said, complaint = purge(sqlite_url, *args, cwd=tmp_path)

    assert (code, said) == (2, "")
    assert complaint.startswith(error) and len(complaint.splitlines()) == 1, complaint
    assert runs_left(sqlite_url) == 2


def test_purge_needs_a_migrated_database(tmp_path: Path) -> None:
    code, _, complaint = purge(f"sqlite:///{tmp_path / 'absent.db'}", "--older-than", "1d", cwd=tmp_path)
    assert code == 1 and "run `executor migrate`" in complaint


def test_purge_works_on_a_sqlite_database_the_service_is_using(
    sqlite_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    history(sqlite_url, old=200, young=0)
    server = Server(CLI, tmp_path, ["--database", sqlite_url], clean_env())
    servers.append(server)
    server.start().wait_running()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        registered = client.post("/workflows", content=FLOW, headers={"content-type": "application/yaml"})
        assert registered.status_code == 201, registered.text
        # Runs keep arriving (and finishing) while the purge deletes.
        stop, submitted = threading.Event(), []

        def load() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as other:
                while not stop.is_set():
                    answer = other.post("/runs", json={"workflow": "tick"})
                    assert answer.status_code == 201, answer.text
                    submitted.append(answer.json()["id"])

        loader = threading.Thread(target=load)
        loader.start()
        try:
            code, said, _ = purge(sqlite_url, "--older-than", "7d", cwd=tmp_path)
        finally:
            stop.set()
            loader.join()
        assert (code, said) == (0, "deleted 200 finished runs older than 7d")
        assert submitted

        def all_succeeded() -> bool:
            return all(client.get(f"/runs/{run_id}").json()["status"] == "succeeded" for run_id in submitted)

        wait_until(all_succeeded, timeout=30, what="the runs submitted during the purge to succeed")


def test_the_service_deletes_old_runs_by_itself(
    sqlite_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    server = Server(CLI, tmp_path, ["--database", sqlite_url, "--retention", "2s"], clean_env())
    servers.append(server)
    server.start().wait_running()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        registered = client.post("/workflows", content=FLOW, headers={"content-type": "application/yaml"})
        assert registered.status_code == 201, registered.text
        run_id = client.post("/runs", json={"workflow": "tick"}).json()["id"]
        wait_until(lambda: client.get(f"/runs/{run_id}").json()["status"] == "succeeded", timeout=10)

        wait_until(
            lambda: client.get(f"/runs/{run_id}").status_code == 404, timeout=20, what="the run deleted"
        )
    # Logged when the pass ends: a moment after the run is gone.
    wait_until(
        lambda: any(
            "retention: deleted 1 finished run" in line.get("message", "") for line in server.log_lines()
        ),
        timeout=10,
        what="the pass's log line",
    )

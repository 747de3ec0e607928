"""Artifacts survive SIGKILL: a service killed in the middle of an upload leaves nothing
visible; after the restart the step runs again (a lost attempt), its new attempt's files
are kept, and the retention chore deletes what the killed upload had written."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import client
from tests.support.databases import postgres_database
from tests.support.process import CLI, Server, clean_env, run
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

FILES = 1000  # at most 1,000 files an attempt: three commits each, seconds of uploading
FLOW = f"""
name: many_files
retention: 30s  # the retention chore (which sweeps unkept artifacts) passes every 3 s
steps:
  - id: make
    action: shell
    with:
      command: |
        i=0
        while [ $i -lt {FILES} ]; do printf "%1024d" $i > "$EXECUTOR_ARTIFACTS_DIR/f$i"; i=$((i+1)); done
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, workdir: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'executor.db'}"
        assert run(CLI, "migrate", "--database", url, cwd=workdir).returncode == 0
        yield url
    else:
        with postgres_database() as url:
            assert run(CLI, "migrate", "--database", url, cwd=workdir).returncode == 0
            yield url


def count(url: str, query: str) -> int:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return int(db.execute(query).fetchone()[0])
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return int(row[0])


def serve(url: str, workdir: Path, servers: list[Server]) -> Server:
    args = ["--poll-interval", "100ms", "--lease", "2s", "--skip-migrations"]
    # A temporary directory of the test's: what attempts leave there is seen.
    (workdir / "tmp").mkdir(exist_ok=True)
    server = Server(CLI, workdir, args, clean_env(EXECUTOR_DATABASE_URL=url, TMPDIR=str(workdir / "tmp")))
    servers.append(server)
    return server.start(new_session=True).wait_running()


def test_a_killed_upload_is_never_listed_and_its_rows_are_swept(
    url: str, workdir: Path, servers: list[Server]
) -> None:
    [run_id] = client.submit(url, FLOW, [{}])
    server = serve(url, workdir, servers)
    wait_until(
        lambda: count(url, "SELECT count(*) FROM artifacts WHERE state = 'uploading'") >= 20,
        timeout=60,
        interval=0.01,
        what="the upload to be under way",
    )
    assert server.process is not None
    os.killpg(server.process.pid, signal.SIGKILL)
    server.wait_exit(10)
    assert count(url, "SELECT count(*) FROM artifacts WHERE state = 'kept'") == 0, (
        "nothing half-uploaded is listed"
    )
    left = count(url, "SELECT count(*) FROM artifacts WHERE state = 'uploading'")
    assert 20 <= left < FILES
    [killed] = (workdir / "tmp").glob("executor-attempts-*")  # its attempt's 1,000 files

    serve(url, workdir, servers)
    wait_until(
        lambda: client.runs(url, [run_id])[0][0].status == "succeeded", timeout=120, what="the run to succeed"
    )
    [(_, [make])] = client.runs(url, [run_id])
    assert make.attempt == 2 and [h["outcome"] for h in make.history or []] == ["lost", "succeeded"]
    assert count(url, "SELECT count(*) FROM artifacts WHERE state = 'kept' AND attempt = 2") == FILES
    wait_until(
        lambda: count(url, "SELECT count(*) FROM artifacts WHERE state <> 'kept'") == 0,
        timeout=30,
        what="the retention chore to sweep the killed upload",
    )
    assert count(url, "SELECT count(*) FROM artifact_chunks") == FILES
    # The killed service's scratch folder went when the new one made its own; the new
    # one's attempt removed its folder when it ended.
    [mine] = (workdir / "tmp").glob("executor-attempts-*")
    assert mine != killed and not killed.exists()
    assert sorted(p.name for p in mine.iterdir()) == [".lock"]

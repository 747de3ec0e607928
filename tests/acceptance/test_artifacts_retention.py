"""Artifacts go with their run, leaving nothing behind, on both backends: deleted by
`executor serve`'s retention (a short ``--retention``) or by `executor purge`, no
row is left in ``artifacts`` or ``artifact_chunks``, and with ``--artifacts-dir`` no folder
of the run either."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import psycopg
import pytest

from executor.store.url import DatabaseURL
from tests.support.process import CLI, Server, run
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

FLOW = """
name: kept
steps:
  - id: make
    action: shell
    with:
      command: |
        head -c 3M /dev/urandom > "$EXECUTOR_ARTIFACTS_DIR/data.bin"
        printf 'notes' > "$EXECUTOR_ARTIFACTS_DIR/notes.txt"
"""


def rows(url: str) -> tuple[int, int]:
    """Rows of ``artifacts`` and of ``artifact_chunks``."""
    query = "SELECT (SELECT count(*) FROM artifacts), (SELECT count(*) FROM artifact_chunks)"
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(DatabaseURL.parse(url).sqlite_path)) as db:
            found = db.execute(query).fetchone()
    else:
        with psycopg.connect(url) as db:
            found = db.execute(query).fetchone()
    assert found is not None
    return int(found[0]), int(found[1])


def produce(server: Server) -> str:
    """A succeeded run of FLOW, its two artifacts kept; its id."""
    answer = httpx.post(f"{server.url}/workflows", content=FLOW, headers={"content-type": "application/yaml"})
    assert answer.status_code == 201, answer.text
    run_id: str = httpx.post(f"{server.url}/runs", json={"workflow": "kept"}).json()["id"]

    def listed() -> list[str] | None:
        answer = httpx.get(f"{server.url}/runs/{run_id}/artifacts")
        names = [a["name"] for a in answer.json()["artifacts"]] if answer.status_code == 200 else []
        return names or None

    assert wait_until(listed, 30, what="the artifacts") == ["data.bin", "notes.txt"]
    return run_id


def serve(database_url: str, folder: Path, kept: Path | None, *more: str) -> Server:
    args = ["--database", database_url, "--poll-interval", "100ms", *more]
    if kept is not None:
        args += ["--artifacts-dir", str(kept)]
    return Server(CLI, folder, args).start().wait_running()


@pytest.mark.parametrize("storage", ["database", "directory"])
def test_retention_deletes_a_runs_artifacts_files_included(
    database_url: str, tmp_path: Path, storage: str
) -> None:
    kept = tmp_path / "kept" if storage == "directory" else None
    if kept is not None:
        kept.mkdir()
    # A pass every second (a tenth of the retention, at least 1 s).
    server = serve(database_url, tmp_path, kept, "--retention", "3s")
    try:
        run_id = produce(server)
        assert rows(database_url) == (2, 0 if kept else 4), "3 MiB: 3 chunks, and 1 of notes"
        if kept is not None:
            assert len(list((kept / run_id).iterdir())) == 2
        wait_until(lambda: httpx.get(f"{server.url}/runs/{run_id}").status_code == 404, 30, what="retention")
        if kept is not None:
            # The same pass deletes the run's folder once the run is gone.
            wait_until(lambda: not (kept / run_id).exists(), 10, what="the run's folder to go")
            assert list(kept.iterdir()) == []
        assert rows(database_url) == (0, 0)
    finally:
        server.stop()


def test_purge_deletes_a_runs_artifacts_and_their_folder(database_url: str, tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.mkdir()
    server = serve(database_url, tmp_path, kept)
    try:
        run_id = produce(server)
        assert (kept / run_id).is_dir()
        done = run(
            CLI,
            "purge",
            "--database",
            database_url,
            "--older-than",
            "0",
            "--artifacts-dir",
            str(kept),
            cwd=tmp_path,
        )
        assert (done.returncode, done.stdout.strip()) == (0, "deleted 1 finished run older than 0ms"), (
            done.stderr
        )
        assert httpx.get(f"{server.url}/runs/{run_id}/artifacts").status_code == 404
        assert rows(database_url) == (0, 0)
        assert list(kept.iterdir()) == [], "the run's folder went with it"
    finally:
        server.stop()

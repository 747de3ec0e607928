"""The databases measured: a template migrated once per kind, a fresh copy of it per
measurement, and the read-only SQL the figures come from (the database's own timestamps)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from scripts.benchlib.errors import BenchError
from scripts.benchlib.settings import CLI, POSTGRES, service_env

FINAL_RUN = "('succeeded', 'failed', 'cancelled')"
FINAL_STEP = "('succeeded', 'failed', 'skipped', 'cancelled')"


@dataclass
class Database:
    """A fresh, migrated database for one measurement, and read-only SQL on it."""

    kind: str
    url: str
    connect: Callable[[], Any]
    _connection: Any = None

    def epoch(self, column: str) -> str:
        """SQL giving ``column`` as Unix seconds (SQLite stores them; PostgreSQL has timestamptz)."""
        return column if self.kind == "sqlite" else f"extract(epoch FROM {column})::float8"

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        if self._connection is None:
            self._connection = self.connect()
        if self.kind == "postgres":
            sql = sql.replace("?", "%s")
        return list(self._connection.execute(sql, params).fetchall())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def progress(self) -> tuple[int, int]:
        """(runs final, steps final)."""
        return self.rows(
            f"SELECT (SELECT count(*) FROM runs WHERE status IN {FINAL_RUN}),"
            f" (SELECT count(*) FROM steps WHERE status IN {FINAL_STEP})"
        )[0]

    def run_status(self, run_id: str) -> str:
        return self.rows("SELECT status FROM runs WHERE id = ?", run_id)[0][0]

    def require_success(self, runs: int) -> None:
        count, failed, error = self.rows(
            "SELECT count(*), sum(CASE WHEN status <> 'succeeded' THEN 1 ELSE 0 END), max(error) FROM runs"
        )[0]
        if count != runs or failed:
            raise BenchError(f"{failed or 0} of {count} runs did not succeed (expected {runs}); {error}")

    def span(self) -> float:
        """Seconds from the first run created to the last run finished."""
        first, last = self.rows(
            f"SELECT min({self.epoch('created_at')}), max({self.epoch('finished_at')}) FROM runs"
        )[0]
        return last - first

    def latencies(self) -> dict[str, tuple[float, float, float]]:
        """Run id -> (created, first step started, finished) for single-step runs."""
        rows = self.rows(
            f"SELECT r.id, {self.epoch('r.created_at')}, {self.epoch('s.started_at')},"
            f" {self.epoch('r.finished_at')} FROM runs r JOIN steps s ON s.run_id = r.id"
            " WHERE s.item_index = -1"
        )
        return {str(run_id): (created, started, finished) for run_id, created, started, finished in rows}


def migrate(url: str) -> None:
    result = subprocess.run(
        [*CLI, "migrate", "--database", url], capture_output=True, text=True, env=service_env()
    )
    if result.returncode != 0:
        raise BenchError(f"executor migrate failed: {result.stderr.strip()}")


def postgres_url(name: str) -> str:
    return urlsplit(POSTGRES)._replace(path=f"/{name}").geturl()


@contextmanager
def templates(kinds: list[str]) -> Iterator[dict[str, str]]:
    """Per kind, a database migrated once by ``executor migrate`` that each measurement copies
    (a SQLite file; a PostgreSQL database used as a TEMPLATE), removed afterwards."""
    found: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="executor-bench-") as tmp:
        try:
            if "sqlite" in kinds:
                found["sqlite"] = str(Path(tmp) / "template.db")
                migrate(f"sqlite:///{found['sqlite']}")
            if "postgres" in kinds:
                found["postgres"] = f"executor_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}_template"
                _admin(f'CREATE DATABASE "{found["postgres"]}"')
                migrate(postgres_url(found["postgres"]))
            yield found
        finally:
            if "postgres" in found:
                _admin(f'DROP DATABASE IF EXISTS "{found["postgres"]}" WITH (FORCE)')


@contextmanager
def fresh_database(kind: str, template: str) -> Iterator[Database]:
    """A new database of ``kind``, a copy of the migrated ``template``; removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="executor-bench-") as tmp:
            path = Path(tmp) / "bench.db"
            shutil.copyfile(template, path)  # `executor migrate` leaves one file, no WAL
            database = Database(
                kind, f"sqlite:///{path}", lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            )
            with closing(database):
                yield database
        return
    name = f"executor_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        url = postgres_url(name)
        database = Database(kind, url, lambda: psycopg.connect(url, autocommit=True))
        with closing(database):
            yield database
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(sql: str) -> None:
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(sql)


def postgres_problem() -> str | None:
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL at {POSTGRES}: {str(exc).strip().splitlines()[0]}"
    return None

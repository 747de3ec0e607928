"""The database of one backend's chaos: created and migrated by ``executor migrate``, read
with read-only SQL (a new connection each time: the chaos terminates connections), and, on
PostgreSQL, every connection to it terminated on demand."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from scripts.chaoslib.errors import ChaosError
from scripts.chaoslib.figures import StepKey, StepRecord
from scripts.chaoslib.settings import POSTGRES, service_env

FINAL_RUN = ("succeeded", "failed", "cancelled")


@dataclass
class Database:
    kind: str
    url: str
    path: Path | None = None  # SQLite's file
    _history: bool | None = None

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            assert self.path is not None
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)) as conn:
                return list(conn.execute(sql, params).fetchall())
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            return list(conn.execute(sql.replace("?", "%s"), params).fetchall())

    def epoch(self, column: str) -> str:
        """SQL giving ``column`` as Unix seconds (SQLite stores them; PostgreSQL has timestamptz)."""
        return column if self.kind == "sqlite" else f"extract(epoch FROM {column})::float8"

    def succeeded_steps(self) -> dict[StepKey, StepRecord]:
        return self.steps("WHERE status = 'succeeded' AND item_index = -1")

    def steps(self, where: str = "WHERE item_index = -1") -> dict[StepKey, StepRecord]:
        history = "history" if self.has_history() else "NULL"
        rows = self.rows(
            f"SELECT run_id, step_id, status, attempt, {self.epoch('finished_at')}, output, error, {history}"
            f" FROM steps {where}"
        )
        return {
            (str(run), step): StepRecord(status, attempt, finished, _json(output), error, _json(ended))
            for run, step, status, attempt, finished, output, error, ended in rows
        }

    def has_history(self) -> bool:
        """Whether steps keep the history of their ended attempts (schema 2 and later)."""
        if self._history is None:
            self._history = self._has_history()
        return self._history

    def _has_history(self) -> bool:
        if self.kind == "sqlite":
            sql = "SELECT count(*) FROM pragma_table_info('steps') WHERE name = 'history'"
        else:
            sql = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'steps' AND column_name = 'history'"
        return bool(self.rows(sql)[0][0])

    def runs(self) -> dict[str, tuple[str, str | None]]:
        """Run id -> (status, error), every run."""
        return {
            str(run): (status, error)
            for run, status, error in self.rows("SELECT id, status, error FROM runs")
        }

    def unfinished(self, run_ids: set[str]) -> int:
        final = {run for run, (status, _) in self.runs().items() if status in FINAL_RUN}
        return len(run_ids - final)

    def terminate_backends(self) -> int:
        """End every connection to this database (PostgreSQL); how many there were."""
        name = urlsplit(self.url).path.lstrip("/")
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchone()
        return int(row[0]) if row else 0


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def migrate(command: list[str], url: str, cwd: Path) -> None:
    result = subprocess.run(
        [*command, "migrate", "--database", url],
        capture_output=True,
        text=True,
        env=service_env(),
        cwd=cwd,
        timeout=300,
    )
    if result.returncode != 0:
        raise ChaosError(f"executor migrate failed: {result.stderr.strip()}")


@contextmanager
def fresh_database(kind: str, command: list[str], workdir: Path) -> Iterator[Database]:
    """A new database of ``kind`` migrated by ``executor migrate``; a PostgreSQL one is
    dropped afterwards (a SQLite file stays in ``workdir``)."""
    if kind == "sqlite":
        path = workdir / "executor.db"
        database = Database(kind, f"sqlite:///{path}", path)
        migrate(command, database.url, workdir)
        yield database
        return
    name = f"executor_chaos_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        database = Database(kind, urlsplit(POSTGRES)._replace(path=f"/{name}").geturl())
        migrate(command, database.url, workdir)
        yield database
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(sql: str) -> None:
    # The server may be coming back from a restart the chaos asked for: wait for it a while.
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as admin:
                admin.execute(sql)
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def postgres_problem() -> str | None:
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL at {POSTGRES}: {str(exc).strip().splitlines()[0]}"
    return None


def wait_for_postgres(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (problem := postgres_problem()) is not None:
        if time.monotonic() > deadline:
            raise ChaosError(f"PostgreSQL did not come back within {timeout:.0f} s: {problem}")
        time.sleep(0.5)

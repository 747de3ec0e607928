"""Real databases for tests: SQLite files in a temporary folder, and PostgreSQL databases
created with a unique name on the server at ``EXECUTOR_TEST_POSTGRES`` (default
127.0.0.1:5432, user postgres) and dropped afterwards.

Migrating takes longer than copying a migrated database (about 50 ms on SQLite, 100 ms on
PostgreSQL, per test), so a session migrates one template per backend and each test gets a copy.

Where no PostgreSQL answers, its tests are skipped with the reason shown, except under
``CI=true``, where a missing server fails them: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest

from executor import migrate
from executor.settings import default
from executor.store.url import DatabaseURL

# Connections per test store: what an instance gets by default.
POOL_SIZE: int = default("pool_size")
ADMIN_URL = os.environ.get("EXECUTOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_available: bool | str | None = None


def _base(url: str) -> str:
    return url.rsplit("/", 1)[0]


def postgres_unavailable() -> str | None:
    """None when the server answers; else the reason it does not (checked once)."""
    global _available
    if _available is None:
        try:
            with psycopg.connect(ADMIN_URL, connect_timeout=3):
                _available = True
        except psycopg.Error as exc:
            _available = f"no PostgreSQL at {ADMIN_URL}: {str(exc).strip().splitlines()[0]}"
    return None if _available is True else str(_available)


def require_postgres() -> None:
    reason = postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}: the PostgreSQL tests must run in CI")
    pytest.skip(reason)


@contextmanager
def postgres_database(template: str | None = None) -> Iterator[str]:
    """A new database, empty or a copy of ``template``; yields its URL and drops it afterwards."""
    require_postgres()
    name = f"executor_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield f"{_base(ADMIN_URL)}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_template() -> Iterator[str]:
    """A migrated database to copy; yields its name and drops it afterwards.

    PostgreSQL copies a template only while nothing is connected to it: migrating closes its
    connection, and nothing else ever connects.
    """
    with postgres_database() as url:
        migrate.apply(DatabaseURL.parse(url))
        yield url.rsplit("/", 1)[1]


def sqlite_template(path: Path) -> Path:
    """Migrate a new SQLite file at ``path``, ready to be copied file by file."""
    migrate.apply(DatabaseURL.parse(f"sqlite:///{path}"))
    # A copy of the file alone is complete only when no write-ahead log holds pages of it.
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def sqlite_copy(template: Path, path: Path) -> str:
    """A copy of ``template`` at ``path``; returns its URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"

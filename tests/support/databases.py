"""Real databases for tests: SQLite files in a temporary folder, and PostgreSQL databases
created with a unique name on the server at ``EXECUTOR_TEST_POSTGRES`` (default
127.0.0.1:5432, user postgres) and dropped afterwards.

Where no PostgreSQL answers, its tests are skipped with the reason shown, except under
``CI=true``, where a missing server fails them: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

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
def postgres_database() -> Iterator[str]:
    """A new, empty database; yields its URL and drops it afterwards."""
    require_postgres()
    name = f"executor_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{_base(ADMIN_URL)}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

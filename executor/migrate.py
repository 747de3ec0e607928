"""Schema migrations: a thin wrapper over yoyo that knows where our migrations live.

Migrations are plain SQL files in ``migrations/<dialect>/``. They are found in the source
tree, inside an installed wheel (``executor/_migrations``) and inside the frozen binary
(PyInstaller's ``sys._MEIPASS``). Applying them is safe from many processes at once: yoyo
takes its lock row first, and decides what is pending only once it holds the lock.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from executor import settings
from executor.durations import format_duration
from executor.errors import MigrationError, SchemaError
from executor.store.url import DatabaseURL, sqlite_location_problem


def migrations_dir(dialect: str) -> Path:
    here = Path(__file__).resolve().parent
    candidates = [
        here / "_migrations" / dialect,  # installed wheel
        here.parent / "migrations" / dialect,  # source tree
    ]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:  # frozen binary
        candidates.insert(0, Path(bundle) / "migrations" / dialect)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise MigrationError(f"no {dialect} migrations found (looked in {', '.join(map(str, candidates))})")


def yoyo_url(database: DatabaseURL) -> str:
    if database.dialect == "sqlite":
        return database.url
    # yoyo's plain postgresql:// backend is psycopg2's; we ship psycopg 3.
    return "postgresql+psycopg://" + database.url.split("://", 1)[1]


@dataclass(frozen=True)
class Status:
    applied: list[str]
    pending: list[str]
    # applied to the database but unknown to this binary: the schema is newer than we are
    unknown: list[str]

    @property
    def current(self) -> bool:
        return not self.pending and not self.unknown


def _load(database: DatabaseURL) -> tuple[Any, Any]:
    # yoyo is imported here, not at the top: only migrating commands pay for it.
    from yoyo import get_backend, read_migrations

    try:
        backend = get_backend(yoyo_url(database))
    except Exception as exc:
        raise MigrationError(f"cannot open database {database.redacted()}: {_reason(exc)}") from exc
    return backend, read_migrations(str(migrations_dir(database.dialect)))


def _create_private(database: DatabaseURL) -> None:
    """Create a new SQLite database file readable and writable by its owner only (0600): it
    holds every run's inputs, outputs and logs. SQLite gives the -wal and -shm files it
    creates beside it the same mode. An existing file is left as it is."""
    path = database.sqlite_path
    problem = sqlite_location_problem(path)
    if problem is not None:
        raise MigrationError(f"cannot use database {database.url}: {problem}")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise MigrationError(f"cannot create database {database.url}: {exc.strerror or exc}") from exc


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _applied_ids(backend: Any) -> list[str]:
    """Ids of applied migrations, read without creating yoyo's bookkeeping tables."""
    if backend.migration_table not in backend.list_tables():
        return []
    cursor = backend.execute(
        f"SELECT migration_id FROM {backend.migration_table_quoted} ORDER BY applied_at_utc"
    )
    return [row[0] for row in cursor.fetchall()]


def status(database: DatabaseURL) -> Status:
    if database.dialect == "sqlite" and not database.sqlite_path.exists():
        # Do not create an empty database file just to say that it is empty.
        known = [m.id for m in _known_migrations(database)]
        return Status(applied=[], pending=known, unknown=[])
    backend, migrations = _load(database)
    try:
        applied = _applied_ids(backend)
    except backend.DatabaseError as exc:
        raise MigrationError(f"cannot read migration state: {_reason(exc)}") from exc
    finally:
        backend.connection.close()
    known = [m.id for m in migrations]
    return Status(
        applied=applied,
        pending=[m for m in known if m not in applied],
        unknown=[m for m in applied if m not in known],
    )


def _known_migrations(database: DatabaseURL) -> Any:
    from yoyo import read_migrations

    return read_migrations(str(migrations_dir(database.dialect)))


def apply(database: DatabaseURL, lock_timeout: float = settings.default("lock_timeout")) -> list[str]:
    """Apply every pending migration; return the ids applied by this call (maybe none).

    ``lock_timeout``: how long to wait for another migrating process to finish.
    """
    if database.dialect == "sqlite":
        _create_private(database)
    backend, migrations = _load(database)
    from yoyo.exceptions import LockTimeout

    try:
        with backend.lock(timeout=lock_timeout):
            pending = backend.to_apply(migrations)
            for migration in pending:
                logger.info("applying migration {}", migration.id)
            backend.apply_migrations(pending)
    except LockTimeout as exc:
        raise MigrationError(
            f"another process has held the migration lock for over {format_duration(lock_timeout)}; if no "
            "`executor migrate` is running (one was killed mid-way), run `executor migrate --break-lock`"
        ) from exc
    except backend.DatabaseError as exc:
        raise MigrationError(f"migration failed: {_reason(exc)}") from exc
    finally:
        backend.connection.close()
    return [m.id for m in pending]


def break_lock(database: DatabaseURL) -> None:
    """Remove a migration lock left behind by a migrating process that was killed."""
    backend, _ = _load(database)
    try:
        backend.break_lock()
    except backend.DatabaseError as exc:
        raise MigrationError(f"cannot break the migration lock: {_reason(exc)}") from exc
    finally:
        backend.connection.close()


def check_schema(database: DatabaseURL) -> None:
    """Raise `SchemaError` unless the database is at exactly this binary's schema."""
    current = status(database)
    if current.unknown:
        raise SchemaError(
            "the database schema is newer than this executor "
            f"(unknown migrations: {', '.join(current.unknown)}); upgrade executor"
        )
    if current.pending:
        raise SchemaError(
            f"the database schema is not up to date ({len(current.pending)} migration(s) pending: "
            f"{', '.join(current.pending)}); run `executor migrate`"
        )


__all__ = ["Status", "apply", "break_lock", "check_schema", "migrations_dir", "status"]

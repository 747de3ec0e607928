"""`executor backup FILE`: a consistent copy of the SQLite database, taken while it is in use.

SQLite's online backup API copies the database in one read transaction: the copy is the
database as it was at one instant, every run accepted up to then included, while the
service goes on writing (WAL lets readers and the writer pass each other). The copy is
written beside its destination under another name, flushed, then renamed into place, so
that a crash never leaves a half-written backup where the real one is expected. Like the
database, it is readable by its owner only.

PostgreSQL has tools of its own for this (``pg_dump``, or the server's base backups); see
the README.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from executor.errors import ExecutorError
from executor.store.url import DatabaseURL


class BackupError(ExecutorError):
    """A backup could not be taken; nothing was written at the destination."""

    code = "backup_failed"


def backup(database: DatabaseURL, target: Path) -> int:
    """Copy ``database`` to ``target`` (which must not exist); return the copy's size in bytes."""
    if database.dialect != "sqlite":
        raise BackupError(
            "executor backup copies SQLite databases; for PostgreSQL use pg_dump "
            "(e.g. pg_dump --format=custom DATABASE_URL > executor.dump), see the README"
        )
    source = database.sqlite_path
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if target.exists():
        raise BackupError(f"{target} exists; a backup never overwrites a file")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")
    partial = target.with_name(f".{target.name}.partial")
    try:
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise BackupError(f"cannot write {partial}: {exc.strerror or exc}") from exc
    try:
        _copy(source, partial)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target.stat().st_size


def _copy(source: Path, partial: Path) -> None:
    try:
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as dst:
            src.execute("PRAGMA busy_timeout = 10000")  # a checkpoint in progress, at most
            src.backup(dst)
            # The copy stands alone: one file, no WAL beside it.
            dst.execute("PRAGMA journal_mode = DELETE")
        with partial.open("rb+") as copy:
            os.fsync(copy.fileno())
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy {source}: {exc}") from exc

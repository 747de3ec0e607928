"""The SQLite store (the embedded default), on aiosqlite.

The database runs in WAL mode with ``synchronous=FULL``: a commit is fsynced before it
returns, so a change the user was told about survives a power loss, not only a crash.
Writers take the write lock up front (``BEGIN IMMEDIATE``) so that two transactions never
deadlock upgrading a read lock, and wait up to `BUSY_TIMEOUT_MS` for each other.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from executor.errors import StoreError
from executor.store import queries
from executor.store.base import Instance, Store

BUSY_TIMEOUT_MS = 30_000

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys = ON",
)


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sql = queries.load("sqlite")
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if not self.path.exists():
            # Connecting would create an empty file; the schema comes from migrations only.
            raise StoreError(f"database file {self.path} does not exist; run `executor migrate`")
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            for pragma in _PRAGMAS:
                await self._db.execute(pragma)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        db = self.db
        try:
            await db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}") from exc
        try:
            yield db
        except BaseException as exc:
            await db.rollback()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"database error: {exc}") from exc
            raise
        else:
            try:
                await db.commit()
            except sqlite3.Error as exc:
                await db.rollback()
                raise StoreError(f"database error: {exc}") from exc

    async def _fetch(self, name: str, params: dict[str, Any] | None = None) -> list[sqlite3.Row]:
        try:
            async with self.db.execute(self._sql[name], params or {}) as cursor:
                return list(await cursor.fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}") from exc

    async def ping(self) -> None:
        await self._fetch("ping")

    async def register_instance(self, instance: Instance) -> None:
        async with self._write() as db:
            await db.execute(
                self._sql["register_instance"],
                {
                    "id": instance.id,
                    "host": instance.host,
                    "pid": instance.pid,
                    "version": instance.version,
                    "state": instance.state,
                    "now": time.time(),
                },
            )

    async def heartbeat(self, instance_id: str, state: str) -> None:
        async with self._write() as db:
            cursor = await db.execute(
                self._sql["heartbeat"], {"id": instance_id, "state": state, "now": time.time()}
            )
            if cursor.rowcount != 1:
                raise StoreError(f"instance {instance_id} is not registered")

    async def list_instances(self) -> list[Instance]:
        return [
            Instance(
                id=row[0],
                host=row[1],
                pid=row[2],
                version=row[3],
                state=row[4],
                started_at=_time(row[5]),
                heartbeat_at=_time(row[6]),
            )
            for row in await self._fetch("list_instances")
        ]

"""The PostgreSQL store (fleets), on psycopg 3 with a bounded async connection pool.

psycopg is also the driver yoyo migrates with, so one driver serves both. Each method
borrows a connection for one transaction; the pool replaces connections that broke.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from executor.errors import StoreError
from executor.store import queries
from executor.store.base import Instance, Store

POOL_MIN = 1
POOL_MAX = 10
CONNECT_TIMEOUT = 10.0


class PostgresStore(Store):
    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = POOL_MIN, max_size: int = POOL_MAX) -> None:
        self.url = url
        self._sql = queries.load("postgres")
        self._pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT,
            open=False,
            check=AsyncConnectionPool.check_connection,
            name="executor",
        )

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except (PoolTimeout, psycopg.Error) as exc:
            await self.close()
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc

    async def close(self) -> None:
        if not self._pool.closed:
            await self._pool.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """One transaction on a pooled connection: committed at the end, rolled back on error."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (PoolTimeout, psycopg.Error) as exc:
            raise StoreError(f"database error: {exc}") from exc

    async def ping(self) -> None:
        async with self._transaction() as conn:
            await conn.execute(self._sql["ping"])

    async def register_instance(self, instance: Instance) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                self._sql["register_instance"],
                {
                    "id": instance.id,
                    "host": instance.host,
                    "pid": instance.pid,
                    "version": instance.version,
                    "state": instance.state,
                },
            )

    async def heartbeat(self, instance_id: str, state: str) -> None:
        async with self._transaction() as conn:
            cursor = await conn.execute(self._sql["heartbeat"], {"id": instance_id, "state": state})
            if cursor.rowcount != 1:
                raise StoreError(f"instance {instance_id} is not registered")

    async def list_instances(self) -> list[Instance]:
        async with self._transaction() as conn:
            cursor = await conn.execute(self._sql["list_instances"])
            return [Instance(*row) for row in await cursor.fetchall()]

"""The PostgreSQL store (fleets), on psycopg 3 with a bounded async connection pool.

psycopg is also the driver yoyo migrates with, so one driver serves both. Each operation
borrows a connection for one transaction; the pool replaces connections that broke.
Claims use ``FOR UPDATE SKIP LOCKED`` so that instances never wait for each other's rows,
and leases are measured on the database's clock, so hosts' clocks need not agree.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from loguru import logger
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from executor.errors import StoreConflict, StoreError
from executor.store import common, queries
from executor.store.base import DuplicateRun, Instance, Store, Txn
from executor.store.records import (
    Claimed,
    LogLine,
    NewRun,
    NewStep,
    RunRecord,
    StepRow,
    StoredLogLine,
    WorkflowRecord,
)

POOL_MIN = 1
POOL_MAX = 10
CONNECT_TIMEOUT = 10.0


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _run(row: Sequence[Any]) -> RunRecord:
    return common.run_record(row, common.as_is)


def _step(row: Sequence[Any]) -> StepRow:
    return common.step_row(row, common.as_is)


def _workflow(row: Sequence[Any]) -> WorkflowRecord:
    return common.workflow_record(row, common.as_is)


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
        except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure) as exc:
            raise StoreConflict(f"transaction conflict, try again: {exc}") from exc
        except (PoolTimeout, psycopg.Error) as exc:
            raise StoreError(f"database error: {exc}") from exc

    async def _all(self, name: str, params: dict[str, Any] | None = None) -> list[Any]:
        async with self._transaction() as conn:
            cursor = await conn.execute(self._sql[name], params or {})
            return list(await cursor.fetchall())

    async def ping(self) -> None:
        await self._all("ping")

    async def watch(self, wake: Callable[[], None]) -> None:
        """LISTEN on a connection of its own; reconnect (and say so) when it drops."""
        delay = 0.5
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)
                )
            except psycopg.Error as exc:
                logger.warning(
                    "cannot listen for work notifications, retrying in {}s: {}", delay, _first_line(exc)
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            try:
                async with conn:
                    await conn.execute(self._sql["listen"])
                    if delay > 0.5:
                        logger.info("listening for work notifications again")
                    delay = 0.5
                    wake()  # whatever was queued while we were not listening
                    async for _ in conn.notifies():
                        wake()
            except psycopg.Error as exc:
                logger.warning("lost the work notification connection, reconnecting: {}", _first_line(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    # -- instances -----------------------------------------------------------------------

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
        return [Instance(*row) for row in await self._all("list_instances")]

    async def release_instance(self, instance_id: str) -> int:
        async with self._transaction() as conn:
            await conn.execute(self._sql["stop_instance"], {"id": instance_id})
            cursor = await conn.execute(self._sql["expire_owner_leases"], {"owner": instance_id})
            return cursor.rowcount

    async def dead_local_instances(self, host: str, alive: Sequence[int]) -> list[Instance]:
        rows = await self._all("dead_local_instances", {"host": host})
        return [Instance(*row) for row in rows if row[2] not in alive]

    # -- workflows -----------------------------------------------------------------------

    async def register_workflow(
        self, name: str, digest: str, source: str, definition: dict[str, Any]
    ) -> tuple[WorkflowRecord, bool]:
        async with self._transaction() as conn:
            # One registration per name at a time, so versions are consecutive and one
            # definition gets one version even when sent by many clients at once.
            await conn.execute(self._sql["lock_workflow_name"], {"name": name})
            params: dict[str, Any] = {"name": name, "digest": digest}
            existing = await (await conn.execute(self._sql["workflow_by_digest"], params)).fetchone()
            if existing is not None:
                return _workflow(existing), False
            params.update(source=source, definition=Jsonb(definition))
            row = await (await conn.execute(self._sql["insert_workflow"], params)).fetchone()
            assert row is not None
            return _workflow(row), True

    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowRecord | None:
        if version is None:
            rows = await self._all("latest_workflow", {"name": name})
        else:
            rows = await self._all("workflow_version", {"name": name, "version": version})
        return _workflow(rows[0]) if rows else None

    async def list_workflows(self) -> list[WorkflowRecord]:
        return [_workflow(row) for row in await self._all("list_workflows")]

    # -- runs ----------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Txn]:
        async with self._transaction() as conn:
            yield PostgresTxn(conn, self._sql)

    async def get_run(self, run_id: str) -> tuple[RunRecord, list[StepRow]] | None:
        if not _is_uuid(run_id):
            return None
        async with self._transaction() as conn:
            run = await (await conn.execute(self._sql["get_run"], {"id": run_id})).fetchone()
            if run is None:
                return None
            steps = await (await conn.execute(self._sql["run_steps"], {"run_id": run_id})).fetchall()
        return _run(run), [_step(row) for row in steps]

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        before: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        if before is not None and not _is_uuid(before[1]):
            return []
        params = {
            "workflow": workflow,
            "status": status,
            "before_at": before[0] if before else None,
            "before_id": before[1] if before else None,
            "limit": limit,
        }
        return [_run(row) for row in await self._all("list_runs", params)]

    async def step_results(self, run_id: str) -> dict[str, tuple[str, Any]]:
        rows = await self._all("step_results", {"run_id": run_id})
        return {step_id: (status, output) for step_id, status, output in rows}

    # -- claiming ------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, lease: float) -> list[Claimed]:
        token = str(uuid.uuid4())
        async with self._transaction() as conn:
            cursor = await conn.execute(
                self._sql["claim"], {"owner": owner, "token": token, "lease": lease, "limit": limit}
            )
            rows = await cursor.fetchall()
            if not rows:
                return []
            run_ids = list({row[1] for row in rows})
            runs = {
                str(r[0]): r
                for r in await (await conn.execute(self._sql["claimed_runs"], {"ids": run_ids})).fetchall()
            }
            await conn.execute(self._sql["start_runs"], {"ids": run_ids})
        claimed = []
        for row in sorted(rows, key=lambda r: r[0]):
            run = runs[str(row[1])]
            claimed.append(
                Claimed(
                    row=_step(row),
                    workflow_name=run[1],
                    workflow_version=run[2],
                    run_input=run[3],
                    resumed=row[16] == "waiting",
                )
            )
        return claimed

    async def renew_leases(self, owner: str, rows: Sequence[tuple[int, str]], lease: float) -> set[int]:
        if not rows:
            return set()
        params = {
            "owner": owner,
            "lease": lease,
            "ids": [row_id for row_id, _ in rows],
            "tokens": [token for _, token in rows],
        }
        return {row[0] for row in await self._all("renew_leases", params)}

    async def hand_back(self, claimed: Sequence[Claimed]) -> int:
        if not claimed:
            return 0
        async with self._transaction() as conn:
            cursor = await conn.execute(
                self._sql["hand_back"],
                {
                    "ids": [c.row.id for c in claimed],
                    "tokens": [c.token for c in claimed],
                    "resumed": [c.resumed for c in claimed],
                },
            )
            return cursor.rowcount

    async def expired_leases(self, limit: int) -> list[tuple[str, int, str]]:
        rows = await self._all("expired_leases", {"limit": limit})
        return [(str(run_id), row_id, str(token)) for run_id, row_id, token in rows]

    async def overdue_runs(self, limit: int) -> list[str]:
        return [str(row[0]) for row in await self._all("overdue_runs", {"limit": limit})]

    async def next_due(self) -> float | None:
        rows = await self._all("next_due")
        return rows[0][0] if rows else None

    # -- logs ----------------------------------------------------------------------------

    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        if not lines:
            return
        async with self._transaction() as conn, conn.cursor() as cursor:
            await cursor.executemany(self._sql["append_log"], common.log_params(lines))

    async def read_logs(self, step: int, after: int = 0, limit: int = 1000) -> list[StoredLogLine]:
        rows = await self._all("read_logs", {"step": step, "after": after, "limit": limit})
        return [StoredLogLine(*row) for row in rows]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class PostgresTxn(Txn):
    """A `Txn` on one pooled connection; `lock_run` takes the run's row lock (FOR UPDATE)."""

    def __init__(self, conn: psycopg.AsyncConnection, sql: dict[str, str]) -> None:
        self.conn = conn
        self.sql = sql

    async def _one(self, name: str, params: dict[str, Any]) -> Any:
        return await (await self.conn.execute(self.sql[name], params)).fetchone()

    async def _all(self, name: str, params: dict[str, Any]) -> list[Any]:
        return list(await (await self.conn.execute(self.sql[name], params)).fetchall())

    async def work_queued(self) -> None:
        await self.conn.execute(self.sql["notify_work"])

    async def lock_run(self, run_id: str) -> RunRecord | None:
        if not _is_uuid(run_id):
            return None
        row = await self._one("lock_run", {"id": run_id})
        return None if row is None else _run(row)

    async def run_steps(self, run_id: str) -> list[StepRow]:
        return [_step(row) for row in await self._all("run_steps", {"run_id": run_id})]

    async def insert_run(self, run: NewRun) -> RunRecord:
        row = await self._one("insert_run", common.run_params(run, Jsonb))
        if row is None:
            raise DuplicateRun(run.idempotency_key)
        return _run(row)

    async def find_run(self, workflow_name: str, idempotency_key: str) -> RunRecord | None:
        row = await self._one("find_run", {"workflow_name": workflow_name, "key": idempotency_key})
        return None if row is None else _run(row)

    async def update_run(self, run_id: str, **changes: Any) -> None:
        common.check_columns(changes, common.RUN_UPDATABLE, "runs")
        await self._update("runs", run_id, changes, common.RUN_JSON, common.RUN_TIMES)

    async def child_runs(self, run_id: str) -> list[RunRecord]:
        return [_run(row) for row in await self._all("child_runs", {"run_id": run_id})]

    async def insert_steps(self, run_id: str, steps: Sequence[NewStep]) -> None:
        async with self.conn.cursor() as cursor:
            await cursor.executemany(self.sql["insert_step"], common.step_params(run_id, steps, _jsonb))

    async def update_step(self, row_id: int, **changes: Any) -> None:
        common.check_columns(changes, common.STEP_UPDATABLE, "steps")
        await self._update(
            "steps", row_id, common.leaving_running(changes), common.STEP_JSON, common.STEP_TIMES
        )

    async def _update(
        self,
        table: str,
        key: Any,
        changes: dict[str, Any],
        json_columns: frozenset[str],
        times: frozenset[str],
    ) -> None:
        if not changes:
            return
        # Column names come from the allow-lists in `common`, never from callers' data.
        assignments = ", ".join(
            f"{c} = to_timestamp(%({c})s)" if c in times else f"{c} = %({c})s" for c in changes
        )
        params = {c: _jsonb(v) if c in json_columns else v for c, v in changes.items()}
        await self.conn.execute(
            f"UPDATE {table} SET {assignments} WHERE id = %(_key)s",
            {**params, "_key": key},
        )

    async def delete_items(self, run_id: str, step_id: str) -> None:
        await self.conn.execute(self.sql["delete_items"], {"run_id": run_id, "step_id": step_id})

    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowRecord | None:
        if version is None:
            row = await self._one("latest_workflow", {"name": name})
        else:
            row = await self._one("workflow_version", {"name": name, "version": version})
        return None if row is None else _workflow(row)

    async def insert_signal(self, run_id: str, name: str, payload: Any) -> int:
        row = await self._one("insert_signal", {"run_id": run_id, "name": name, "payload": _jsonb(payload)})
        return int(row[0])

    async def take_signal(self, run_id: str, name: str, step: int) -> tuple[bool, Any]:
        row = await self._one("take_signal", {"run_id": run_id, "name": name, "step": step})
        return (False, None) if row is None else (True, row[0])

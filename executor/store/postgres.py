"""The PostgreSQL store (fleets), on psycopg 3 with a bounded async connection pool.

psycopg is also the driver yoyo migrates with, so one driver serves both. Each operation
borrows a connection for one transaction; the pool replaces connections that broke.
Claims use ``FOR UPDATE SKIP LOCKED`` so that instances never wait for each other's rows.
"Now" is the database's clock, so that the instances of a fleet measure leases on one clock
whatever their hosts' clocks say; a store given a clock (tests) sends its time instead.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any, Unpack

import psycopg
from loguru import logger
from psycopg import errors as pg_errors
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from executor.cancel import pause, stop_if_cancelled
from executor.errors import StoreConflict, StoreError
from executor.statuses import RunStatus, StepStatus
from executor.store import common, queries
from executor.store.artifacts import SharedArtifacts
from executor.store.base import Clock, DuplicateRun, PurgeBatch, PurgeCursor, Txn
from executor.store.records import (
    Claimed,
    Instance,
    LogLine,
    NewLlmCall,
    NewRun,
    NewStep,
    Place,
    RunChanges,
    RunRecord,
    ScheduleFields,
    ScheduleRow,
    StepChanges,
    StepRow,
    WorkflowRecord,
)

POOL_MIN = 1
CONNECT_TIMEOUT = 10.0
# How long closing waits for the pool's workers (one may be connecting, for up to
# CONNECT_TIMEOUT, to a server that does not answer): a stop does not wait that long.
CLOSE_TIMEOUT = 1.0

# Rows are dicts by column name, read by the decoders `common` shares with SQLite.
Connection = psycopg.AsyncConnection[DictRow]


# The SQL types of the step columns `PostgresTxn.flush` sends as arrays (times as seconds).
_STEP_TYPES = {
    "status": "text",
    "attempt": "int",
    "available_at": "float8",
    "state": "jsonb",
    "output": "jsonb",
    "history": "jsonb",
    "error": "text",
    "started_at": "float8",
    "finished_at": "float8",
    "lease_owner": "text",
    "lease_token": "uuid",
    "lease_expires_at": "float8",
}


def _json(value: Any) -> Jsonb:
    """A JSON document (None: JSON null), written as `common.json_text` writes it for SQLite."""
    return Jsonb(value, dumps=common.json_text)


def _jsonb(value: Any) -> Jsonb | None:
    """A nullable JSON column's value (None: SQL NULL)."""
    return None if value is None else _json(value)


def _run(row: DictRow) -> RunRecord:
    return common.run_record(row, common.as_is)


def _step(row: DictRow) -> StepRow:
    return common.step_row(row, common.as_is)


def _workflow(row: DictRow) -> WorkflowRecord:
    return common.workflow_record(row, common.as_is)


def _still_cancelled(exc: BaseException) -> None:
    """Raise `CancelledError` when the current task is being cancelled: a query interrupted
    by a cancellation can end in a driver error instead (psycopg closes the connection, and
    returning it to the pool fails), not a database error to try again (see executor.cancel)."""
    try:
        stop_if_cancelled()
    except asyncio.CancelledError as cancelled:
        raise cancelled from exc


def _now(clock: Clock | None) -> float | None:
    """The parameter ``now`` of the queries: None lets the database's clock decide."""
    return None if clock is None else clock()


class PostgresStore(SharedArtifacts[DictRow]):
    dialect = "postgres"
    _decode = staticmethod(common.as_is)  # jsonb columns come decoded by psycopg
    _encode_list = staticmethod(common.as_is)  # psycopg sends a list as an array

    def __init__(
        self, url: str, *, max_size: int, min_size: int = POOL_MIN, clock: Clock | None = None
    ) -> None:
        self.url = url
        self._clock = clock
        self._sql = queries.load("postgres")
        self._pool = AsyncConnectionPool(
            url,
            connection_class=Connection,
            kwargs={"row_factory": dict_row},
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
            await self._pool.close(timeout=CLOSE_TIMEOUT)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """One transaction on a pooled connection: committed at the end, rolled back on error."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure) as exc:
            _still_cancelled(exc)
            raise StoreConflict(f"transaction conflict, try again: {exc}") from exc
        except (PoolTimeout, psycopg.Error) as exc:
            _still_cancelled(exc)
            raise StoreError(f"database error: {exc}") from exc

    async def _fetch_text(self, query: str, params: dict[str, Any] | None = None) -> list[DictRow]:
        async with self._transaction() as conn:
            # The query comes from the dialect's named queries (`common.run_filter` joins
            # them), never from callers' data.
            cursor = await conn.execute(query, params or {})
            return await cursor.fetchall()

    def _now_param(self) -> float | None:
        return _now(self._clock)

    async def _execute(self, name: str, params: dict[str, Any]) -> list[DictRow]:
        async with self._transaction() as conn:
            cursor = await conn.execute(self._sql[name], params)
            return await cursor.fetchall() if cursor.description else []

    async def _execute_many(self, name: str, params: Sequence[dict[str, Any]]) -> None:
        async with self._transaction() as conn, conn.cursor() as cursor:
            await cursor.executemany(self._sql[name], params)

    async def watch(self, wake: Callable[[], None]) -> None:
        """LISTEN on a connection of its own; reconnect (and say so) when it drops."""
        delay = 0.5
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)
                )
            except psycopg.Error as exc:
                _still_cancelled(exc)
                logger.warning(
                    "cannot listen for work notifications, retrying in {}s: {}", delay, _first_line(exc)
                )
                await pause(delay)
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
                _still_cancelled(exc)
                logger.warning("lost the work notification connection, reconnecting: {}", _first_line(exc))
                await pause(delay)
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
                    "heartbeat_timeout": instance.heartbeat_timeout,
                    "now": _now(self._clock),
                },
            )

    async def heartbeat(self, instance_id: str, state: str) -> None:
        async with self._transaction() as conn:
            cursor = await conn.execute(
                self._sql["heartbeat"], {"id": instance_id, "state": state, "now": _now(self._clock)}
            )
            if cursor.rowcount != 1:
                raise StoreError(f"instance {instance_id} is not registered")

    async def release_instance(self, instance_id: str) -> int:
        async with self._transaction() as conn:
            await conn.execute(self._sql["stop_instance"], {"id": instance_id})
            cursor = await conn.execute(
                self._sql["expire_owner_leases"], {"owner": instance_id, "now": _now(self._clock)}
            )
            return cursor.rowcount

    async def release_silent_instances(self, *, me: str, unknown_timeout: float) -> dict[str, int]:
        now = _now(self._clock)
        released: dict[str, int] = {}
        async with self._transaction() as conn:
            cursor = await conn.execute(
                self._sql["stop_silent_instances"],
                {"self": me, "now": now, "unknown_timeout": unknown_timeout},
            )
            for row in await cursor.fetchall():
                expired = await conn.execute(
                    self._sql["expire_owner_leases"], {"owner": row["id"], "now": now}
                )
                released[row["id"]] = expired.rowcount
        return released

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
                record = _workflow(existing)
                latest = await (await conn.execute(self._sql["latest_workflow"], {"name": name})).fetchone()
                if latest is not None and latest["version"] == record.version:
                    await self._sync_schedules(conn, name, record.definition)
                return record, False
            params.update(source=source, definition=_json(definition), now=_now(self._clock))
            row = await (await conn.execute(self._sql["insert_workflow"], params)).fetchone()
            assert row is not None
            await self._sync_schedules(conn, name, definition)
            return _workflow(row), True

    async def _sync_schedules(self, conn: Connection, name: str, definition: dict[str, Any]) -> None:
        now = _now(self._clock)
        declared = common.declared_schedules(definition)
        for schedule_id, spec in declared.items():
            params = {
                "workflow_name": name,
                "schedule_id": schedule_id,
                "spec": _json(json.loads(spec)),
                "now": now,
            }
            await conn.execute(self._sql["sync_schedule"], params)
        params = {"workflow_name": name, "keep": list(declared), "now": now}
        await conn.execute(self._sql["retire_schedules"], params)

    # -- runs ----------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Txn]:
        # Pipeline mode: a statement whose result nobody reads (most writes) is sent without
        # waiting for its answer; a read waits for everything before it. A transaction then
        # costs a round trip per read, not per statement.
        async with self._transaction() as conn, conn.pipeline():
            txn = PostgresTxn(conn, self._sql, self._clock)
            yield txn
            await txn.flush()

    async def get_run(self, run_id: str) -> tuple[RunRecord, list[StepRow]] | None:
        if not common.is_uuid(run_id):
            return None
        async with self._transaction() as conn:
            run = await (await conn.execute(self._sql["get_run"], {"id": run_id})).fetchone()
            if run is None:
                return None
            steps = await (await conn.execute(self._sql["run_steps"], {"run_id": run_id})).fetchall()
        return _run(run), [_step(row) for row in steps]

    # -- claiming ------------------------------------------------------------------------

    async def renew_leases(self, owner: str, rows: Sequence[tuple[int, str]], lease: float) -> set[int]:
        if not rows:
            return set()
        params = {
            "owner": owner,
            "now": _now(self._clock),
            "lease": lease,
            "ids": [row_id for row_id, _ in rows],
            "tokens": [token for _, token in rows],
        }
        return {row["id"] for row in await self._fetch("renew_leases", params)}

    async def hand_back(self, claimed: Sequence[Claimed], started: Collection[int] = ()) -> int:
        if not claimed:
            return 0
        async with self._transaction() as conn:
            cursor = await conn.execute(
                self._sql["hand_back"],
                {
                    "ids": [c.row.id for c in claimed],
                    "tokens": [c.token for c in claimed],
                    "resumed": [c.resumed for c in claimed],
                    "started": [c.row.id in started for c in claimed],
                    "now": _now(self._clock),
                },
            )
            return cursor.rowcount

    # -- logs ----------------------------------------------------------------------------

    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        if not lines:
            return
        async with self._transaction() as conn, conn.cursor() as cursor:
            await cursor.executemany(self._sql["append_log"], common.log_params(lines))

    async def record_llm_calls(self, calls: Sequence[NewLlmCall]) -> None:
        if not calls:
            return
        async with self._transaction() as conn, conn.cursor() as cursor:
            await cursor.executemany(
                self._sql["record_llm_call"], common.llm_call_params(calls, _now(self._clock))
            )

    # -- retention -----------------------------------------------------------------------

    async def purge_runs(
        self,
        older_than: float,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        after: PurgeCursor | None = None,
        limit: int = 100,
        dry_run: bool = False,
    ) -> PurgeBatch:
        after_at, after_id = after or (-1.0, str(uuid.UUID(int=0)))  # before every run
        params: dict[str, Any] = {
            "now": _now(self._clock),
            "older_than": older_than,
            "after_at": after_at,
            "after_id": after_id,
            "workflow": workflow,
            "status": status,
            "limit": limit,
        }
        page_query = self._sql["purge_page_of_workflow" if workflow else "purge_page"]
        # Never prepared: the generic plan PostgreSQL settles on for a prepared statement
        # (psycopg prepares one after a few executions) knows neither the cursor nor the ids,
        # and scanned whole tables; planning each page with its values costs a millisecond.
        async with self._transaction() as conn:
            page = await (await conn.execute(page_query, params, prepare=False)).fetchall()
            if not page:
                return PurgeBatch(0, None)
            params["ids"] = [row["id"] for row in page if row["chosen"]]
            cursor = (page[-1]["finished_at"], str(page[-1]["id"]))
            if dry_run:
                counted = await (
                    await conn.execute(self._sql["count_purgeable"], params, prepare=False)
                ).fetchone()
                assert counted is not None  # an aggregate without GROUP BY gives one row
                return PurgeBatch(counted["purgeable"], cursor)
            deleted = 0
            while True:  # again while it deletes: parents whose children just went
                count = (await conn.execute(self._sql["purge_runs"], params, prepare=False)).rowcount
                deleted += count
                if count == 0:
                    return PurgeBatch(deleted, cursor)

    async def take_chore(self, name: str, owner: str, *, lease: float, every: float) -> bool:
        params = {"name": name, "owner": owner, "lease": lease, "every": every, "now": _now(self._clock)}
        return bool(await self._fetch("take_chore", params))

    async def finish_chore(self, name: str, owner: str, *, done: bool) -> None:
        params = {"name": name, "owner": owner, "done": done, "now": _now(self._clock)}
        async with self._transaction() as conn:
            await conn.execute(self._sql["finish_chore"], params)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PostgresTxn(Txn):
    """A `Txn` on one pooled connection; `lock_run` takes the run's row lock (FOR UPDATE)."""

    def __init__(self, conn: Connection, sql: dict[str, str], clock: Clock | None) -> None:
        self.conn = conn
        self.sql = sql
        self.clock = clock
        self._writes = 0
        # What `prefetch` read, until written: runs (locked) and step rows, by id and by
        # (run id, step id) for step-level rows.
        self._runs: dict[str, RunRecord] = {}
        self._rows: dict[int, StepRow] = {}
        self._tops: dict[tuple[str, str], StepRow] = {}
        # Step updates not sent yet (see `flush`), by the columns they set; sent before any
        # other statement, so that everything reads as written.
        # Step updates held back (`flush`): by set of columns, the changes of each row; and
        # the set of columns each row's changes are filed under.
        self._pending: dict[tuple[str, ...], dict[int, dict[str, Any]]] = {}
        self._pending_ids: dict[int, tuple[str, ...]] = {}
        # Run updates held back likewise, merged by run: a run that starts and ends in one
        # change is one UPDATE.
        self._pending_runs: dict[str, dict[str, Any]] = {}
        self._workflows: dict[tuple[str, int | None], WorkflowRecord | None] = {}

    async def prefetch(
        self, runs: Sequence[str], rows: Sequence[int], steps: Sequence[tuple[str, str]]
    ) -> None:
        run_ids = sorted({run_id for run_id in runs if common.is_uuid(run_id)})
        steps = [(run_id, step_id) for run_id, step_id in steps if common.is_uuid(run_id)]
        # Pipelined: both statements go out before either answer is awaited.
        await self.flush()
        locked = await self.conn.execute(self.sql["lock_runs"], {"ids": run_ids}) if run_ids else None
        fetched = None
        if rows or steps:
            params = {
                "ids": list(rows),
                "run_ids": [run_id for run_id, _ in steps],
                "step_ids": [step_id for _, step_id in steps],
            }
            fetched = await self.conn.execute(self.sql["prefetch_steps"], params)
        if locked is not None:
            for row in await locked.fetchall():
                run = _run(row)
                self._runs[run.id] = run
        if fetched is not None:
            for row in await fetched.fetchall():
                self._remember(_step(row))

    def _remember(self, row: StepRow) -> None:
        self._rows[row.id] = row
        if row.item_index == -1:
            self._tops[(row.run_id, row.step_id)] = row

    def _forget(self, row_id: int) -> None:
        row = self._rows.pop(row_id, None)
        if row is not None:
            self._tops.pop((row.run_id, row.step_id), None)

    @property
    def writes(self) -> int:
        return self._writes

    async def _write(self, query: str, params: dict[str, Any]) -> psycopg.AsyncCursor[DictRow]:
        # Counts statements, not rows: in pipeline mode the row counts arrive later.
        self._writes += 1
        await self.flush()
        return await self.conn.execute(query, params)

    async def _one(self, name: str, params: dict[str, Any]) -> DictRow | None:
        await self.flush()
        return await (await self.conn.execute(self.sql[name], params)).fetchone()

    async def _all(self, name: str, params: dict[str, Any]) -> list[DictRow]:
        await self.flush()
        return await (await self.conn.execute(self.sql[name], params)).fetchall()

    async def claim(self, owner: str, limit: int, lease: float) -> list[Claimed]:
        self._runs.clear()  # the claim changes rows and runs behind the caches' back
        self._rows.clear()
        self._tops.clear()
        params = {
            "owner": owner,
            "token": str(uuid.uuid4()),
            "now": _now(self.clock),
            "lease": lease,
            "limit": limit,
        }
        # After a burst of new runs the planner's statistics lag (until autovacuum analyzes),
        # and it reads and sorts every due step instead of walking the partial index in its
        # order up to the limit: 2.6 ms instead of 0.26 ms per claim with 1,000 queued steps.
        # The setting holds for this statement only (pipelined: no round trips).
        await self.conn.execute("SET LOCAL enable_bitmapscan = off")
        cursor = await self._write(self.sql["claim"], params)
        await self.conn.execute("SET LOCAL enable_bitmapscan = on")
        return [common.claimed(row, common.as_is) for row in await cursor.fetchall()]

    async def work_queued(self) -> None:
        await self.flush()
        await self.conn.execute(self.sql["notify_work"])

    async def lock_run(self, run_id: str) -> RunRecord | None:
        if run_id in self._runs:
            return self._runs[run_id]
        if not common.is_uuid(run_id):
            return None
        row = await self._one("lock_run", {"id": run_id})
        return None if row is None else _run(row)

    async def run_steps(self, run_id: str) -> list[StepRow]:
        return [_step(row) for row in await self._all("run_steps", {"run_id": run_id})]

    async def get_step(self, row_id: int) -> StepRow | None:
        if row_id in self._rows:
            return self._rows[row_id]
        row = await self._one("get_step", {"id": row_id})
        return None if row is None else _step(row)

    async def step_rows(self, run_id: str, step_ids: Sequence[str]) -> list[StepRow]:
        found = [self._tops[(run_id, s)] for s in step_ids if (run_id, s) in self._tops]
        missing = [s for s in step_ids if (run_id, s) not in self._tops]
        if missing:
            rows = await self._all("step_rows", {"run_id": run_id, "ids": missing})
            found += [_step(row) for row in rows]
        return found

    async def step_results(self, run_id: str) -> dict[str, tuple[StepStatus, Any]]:
        return common.step_results(await self._all("step_results", {"run_id": run_id}), common.as_is)

    async def unfinished_steps(self, run_id: str) -> int:
        row = await self._one("unfinished_steps", {"run_id": run_id})
        assert row is not None  # an aggregate without GROUP BY gives one row
        return int(row["unfinished"])

    async def items(self, run_id: str, step_id: str) -> list[StepRow]:
        rows = await self._all("items", {"run_id": run_id, "step_id": step_id})
        return [_step(row) for row in rows]

    async def item(self, run_id: str, step_id: str, index: int) -> StepRow | None:
        row = await self._one("item", {"run_id": run_id, "step_id": step_id, "index": index})
        return None if row is None else _step(row)

    async def items_from(self, run_id: str, step_id: str, first: int, count: int) -> list[StepRow]:
        params = {"run_id": run_id, "step_id": step_id, "first": first, "count": count}
        return [_step(row) for row in await self._all("items_from", params)]

    async def insert_run(self, run: NewRun) -> RunRecord:
        params = {**common.run_params(run, _json), "now": _now(self.clock)}
        row = await (await self._write(self.sql["insert_run"], params)).fetchone()
        if row is None:
            raise DuplicateRun(run.idempotency_key)
        return _run(row)

    async def insert_runs(
        self, runs: Sequence[tuple[NewRun, Sequence[NewStep]]]
    ) -> list[tuple[RunRecord, list[StepRow]] | None]:
        if not runs:
            return []
        news = [new for new, _ in runs]
        now = _now(self.clock)
        params = {
            "ids": [new.id for new in news],
            "workflow_names": [new.workflow_name for new in news],
            "workflow_versions": [new.workflow_version for new in news],
            "inputs": [_json(new.input) for new in news],
            "idempotency_keys": [new.idempotency_key for new in news],
            "priorities": [new.priority for new in news],
            "parent_run_ids": [new.parent_run_id for new in news],
            "parent_steps": [new.parent_step for new in news],
            "deadline_ats": [new.deadline_at for new in news],
            "triggers": [new.trigger for new in news],
            "schedule_ids": [new.schedule_id for new in news],
            "schedule_ticks": [new.schedule_tick for new in news],
            "traceparents": [new.traceparent for new in news],
            "now": now,
        }
        steps = [(new.id, step) for new, new_steps in runs for step in new_steps]
        step_params = {
            "run_ids": [run_id for run_id, _ in steps],
            "step_ids": [step.step_id for _, step in steps],
            "item_indexes": [step.item_index for _, step in steps],
            "statuses": [step.status for _, step in steps],
            "available_ats": [step.available_at for _, step in steps],
            "states": [_jsonb(step.state) for _, step in steps],
            "now": now,
        }
        # Pipelined: the steps go out before the runs' answer is read (they join the runs
        # created, so a run refused gets none).
        inserted = await self._write(self.sql["insert_runs"], params)
        added = await self._write(self.sql["insert_steps_of_runs"], step_params) if steps else None
        created = {str(run.id): run for run in map(_run, await inserted.fetchall())}
        rows: dict[str, list[StepRow]] = {run_id: [] for run_id in created}
        for step in map(_step, await added.fetchall() if added is not None else []):
            rows[str(step.run_id)].append(step)
        return [(created[new.id], rows[new.id]) if new.id in created else None for new in news]

    async def find_run(self, workflow_name: str, idempotency_key: str) -> RunRecord | None:
        row = await self._one("find_run", {"workflow_name": workflow_name, "key": idempotency_key})
        return None if row is None else _run(row)

    async def find_tick_run(self, workflow_name: str, schedule_id: str, tick: float) -> RunRecord | None:
        params = {"workflow_name": workflow_name, "schedule_id": schedule_id, "tick": tick}
        row = await self._one("find_tick_run", params)
        return None if row is None else _run(row)

    async def update_run(self, run_id: str, **changes: Unpack[RunChanges]) -> None:
        common.check_columns(changes, common.RUN_UPDATABLE, "runs")
        self._runs.pop(run_id, None)
        if not changes:
            return
        self._pending_runs[run_id] = {**self._pending_runs.get(run_id, {}), **changes}
        self._writes += 1

    async def child_runs(self, run_id: str) -> list[RunRecord]:
        return [_run(row) for row in await self._all("child_runs", {"run_id": run_id})]

    async def lock_schedule(
        self, workflow: str, schedule_id: str, *, wait: bool = False
    ) -> tuple[ScheduleRow, float] | None:
        params = {"workflow_name": workflow, "schedule_id": schedule_id, "now": _now(self.clock)}
        row = await self._one("lock_schedule_waiting" if wait else "lock_schedule", params)
        return None if row is None else (common.schedule_row(row, common.as_is), row["now"])

    async def update_schedule(
        self, workflow: str, schedule_id: str, **changes: Unpack[ScheduleFields]
    ) -> None:
        common.check_columns(changes, common.SCHEDULE_UPDATABLE, "schedules")
        if not changes:
            return
        # Column names come from the allow-list in `common`, never from callers' data.
        assignments = ", ".join(
            f"{c} = to_timestamp(%({c})s)" if c in common.SCHEDULE_TIMES else f"{c} = %({c})s"
            for c in changes
        )
        params = {c: _json(v) if c == "buffered" else v for c, v in changes.items()}
        await self._write(
            f"UPDATE schedules SET {assignments}, updated_at = COALESCE(to_timestamp(%(_now)s), now()) "
            "WHERE workflow_name = %(_workflow)s AND schedule_id = %(_id)s",
            {**params, "_now": _now(self.clock), "_workflow": workflow, "_id": schedule_id},
        )

    async def unfinished_schedule_runs(self, workflow: str, schedule_id: str) -> list[RunRecord]:
        rows = await self._all(
            "unfinished_schedule_runs", {"workflow_name": workflow, "schedule_id": schedule_id}
        )
        return [_run(row) for row in rows]

    async def insert_steps(self, run_id: str, steps: Sequence[NewStep]) -> list[StepRow]:
        params = {
            "run_id": run_id,
            "step_ids": [step.step_id for step in steps],
            "item_indexes": [step.item_index for step in steps],
            "statuses": [step.status for step in steps],
            "available_ats": [step.available_at for step in steps],
            "states": [_jsonb(step.state) for step in steps],
            "now": _now(self.clock),
        }
        rows = await (await self._write(self.sql["insert_steps"], params)).fetchall()
        return [_step(row) for row in rows]

    async def update_step(self, row_id: int, **changes: Unpack[StepChanges]) -> None:
        common.check_columns(changes, common.STEP_UPDATABLE, "steps")
        self._forget(row_id)
        columns = common.leaving_running(changes)
        if not columns:
            return  # an UPDATE must set something (SQLite's `_update` also does nothing)
        filed = self._pending_ids.pop(row_id, None)
        if filed is not None:
            # Updated again with nothing sent in between (any other statement flushes first):
            # one update with both, the later values winning (a for_each step's counters
            # change with each item; one statement may set a row only once).
            earlier = self._pending[filed].pop(row_id)
            if not self._pending[filed]:
                del self._pending[filed]
            columns = {**earlier, **columns}
        key = tuple(columns)
        self._pending.setdefault(key, {})[row_id] = columns
        self._pending_ids[row_id] = key
        self._writes += 1

    async def flush(self) -> None:
        """Send the updates held back so far: runs one by one, and step rows one statement per
        set of columns, for every row at once (a group of 60 completions is two statements,
        not 120)."""
        await self._flush_runs()
        pending, self._pending = self._pending, {}
        self._pending_ids = {}
        for columns, updates in pending.items():
            params: dict[str, Any] = {"_ids": list(updates)}
            assignments, sources = [], ["%(_ids)s::bigint[]"]
            for column in columns:
                values = [changes[column] for changes in updates.values()]
                if all(value is None for value in values):
                    assignments.append(f"{column} = NULL")
                    continue
                kind = _STEP_TYPES[column]
                if kind == "jsonb":
                    values = [_jsonb(v) for v in values]
                elif column in common.FREE_TEXT:
                    values = [common.text(v) for v in values]
                params[column] = values
                sources.append(f"%({column})s::{kind}[]")
                value = f"to_timestamp(v.{column})" if column in common.STEP_TIMES else f"v.{column}"
                assignments.append(f"{column} = {value}")
            names = ["id", *(c for c in columns if c in params)]
            # Column names come from the allow-list in `common`, never from callers' data.
            await self.conn.execute(
                f"UPDATE steps AS s SET {', '.join(assignments)} "
                f"FROM unnest({', '.join(sources)}) AS v({', '.join(names)}) WHERE s.id = v.id",
                params,
            )

    async def _flush_runs(self) -> None:
        runs, self._pending_runs = self._pending_runs, {}
        for run_id, changes in runs.items():
            # Column names come from the allow-list in `common`, never from callers' data.
            assignments = ", ".join(
                f"{c} = to_timestamp(%({c})s)" if c in common.RUN_TIMES else f"{c} = %({c})s" for c in changes
            )
            params = {
                c: _jsonb(v) if c in common.RUN_JSON else common.text(v) if c in common.FREE_TEXT else v
                for c, v in changes.items()
            }
            await self.conn.execute(
                f"UPDATE runs SET {assignments} WHERE id = %(_key)s", {**params, "_key": run_id}
            )

    async def delete_items(self, run_id: str, step_id: str) -> None:
        for row in [row for row in self._rows.values() if row.run_id == run_id]:
            self._forget(row.id)
        await self._write(self.sql["keep_item_signals"], {"run_id": run_id, "step_id": step_id})
        await self._write(self.sql["delete_items"], {"run_id": run_id, "step_id": step_id})

    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowRecord | None:
        # Read once per transaction: a group of 500 submits of one workflow reads it once
        # (its latest version as of this transaction, as a single submit would).
        key = (name, version)
        if key not in self._workflows:
            if version is None:
                row = await self._one("latest_workflow", {"name": name})
            else:
                row = await self._one("workflow_version", {"name": name, "version": version})
            self._workflows[key] = None if row is None else _workflow(row)
        return self._workflows[key]

    async def insert_signal(self, run_id: str, name: str, payload: Any, key: str | None = None) -> int:
        params: dict[str, Any] = {"run_id": run_id, "name": name, "payload": _jsonb(payload), "key": key}
        params["now"] = _now(self.clock)
        row = await (await self._write(self.sql["insert_signal"], params)).fetchone()
        assert row is not None
        return int(row["id"])

    async def signal_taken(self, run_id: str, name: str, key: str) -> bool | None:
        row = await self._one("signal_by_key", {"run_id": run_id, "name": name, "key": key})
        return None if row is None else bool(row["taken"])

    async def take_first_signal(self, run_id: str, names: Sequence[str], step: int) -> tuple[str, Any] | None:
        params = {"run_id": run_id, "names": list(names), "step": step, "now": _now(self.clock)}
        row = await (await self._write(self.sql["take_signal"], params)).fetchone()
        return None if row is None else (row["name"], row["payload"])

    # -- mutual exclusion: under an advisory lock per key (`lock_keys`) -------------------

    async def _lock_keys(self, keys: Sequence[str]) -> None:
        await self._all("lock_keys", {"keys": list(keys)})

    async def take_place(self, key: str, limit: int, run_id: str, step: int | None) -> Place:
        await self._lock_keys([key])
        params = {"key": key, "run_id": run_id, "step": step, "limit": limit, "now": _now(self.clock)}
        row = await self._one("key_place", params)
        if row is None:
            await self._write(self.sql["take_place"], params)
            row = await self._one("key_place", params)
        assert row is not None
        return common.place(row)

    async def leave_places(self, run_id: str, step: int | None) -> list[str]:
        which = "run" if step is None else "step"
        params = {"run_id": run_id, "step": step}
        keys = [row["key"] for row in await self._all(f"{which}_place_keys", params)]
        if keys:
            # Under the keys' locks: a place taken meanwhile counts the holders as they end up.
            await self._lock_keys(keys)
            await self._write(self.sql[f"leave_{which}_places"], params)
        return keys

    async def keep_artifacts(self, step: int, token: str) -> None:
        await self._write(self.sql["supersede_artifacts"], {"step": step})
        await self._write(self.sql["keep_artifacts"], {"step": step, "token": token})

    async def let_in(self, key: str) -> list[tuple[str, int | None]]:
        await self._lock_keys([key])
        let: list[tuple[str, int | None]] = []
        while (head := await self._one("key_head", {"key": key})) is not None:
            if head["holders"] >= min(head["lim"], head["tightest"] or head["lim"]):
                break
            cursor = await self._write(self.sql["let_in"], {"id": head["id"], "now": _now(self.clock)})
            row = await cursor.fetchone()
            assert row is not None
            let.append((str(row["run_id"]), row["step"]))
        return let

    async def places_under(self, key: str) -> list[Place]:
        await self._lock_keys([key])
        return [common.place(row) for row in await self._all("places_under", {"key": key})]

"""The SQLite store (the embedded default), on the standard library's sqlite3.

The database runs in WAL mode with ``synchronous=FULL``: a commit is fsynced before it
returns, so a change the user was told about survives a power loss, not only a crash.

Two connections: one writer, used by one transaction at a time (an asyncio lock orders
them; ``BEGIN IMMEDIATE`` takes SQLite's write lock up front so that writers in other
processes wait rather than deadlock), and one reader, which in WAL mode never blocks the
writer and never sees a transaction half done.

Statements run on the event loop's thread, not in a worker thread: an indexed statement
on a local file takes microseconds, far less than a round trip to a thread and back
(measured: the thread hops were 41 % of a step's cost, docs/performance.md). What can
take long runs in a thread instead: waiting for another process's write lock (`_begin`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Unpack

from executor.errors import StoreError
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
from executor.store.url import sqlite_location_problem

BUSY_TIMEOUT_MS = 30_000
WAIT_SLICE_MS = 100  # see `_begin_waiting`
_INCREMENTAL = 2  # PRAGMA auto_vacuum: incremental (see executor.migrate)
_VACUUM_PAGES = 2000  # pages a purge's page gives back at most (8 MB of 4 KiB pages)

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys = ON",
)


class SQLiteStore(SharedArtifacts[sqlite3.Row]):
    dialect = "sqlite"
    _decode = staticmethod(common.loads)  # JSON columns are text
    _encode_list = staticmethod(json.dumps)

    def __init__(self, path: Path, *, clock: Clock = time.time) -> None:
        self.path = path
        self._clock = clock
        self._sql = queries.load("sqlite")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        problem = sqlite_location_problem(self.path)
        if problem is not None:
            raise StoreError(f"cannot use SQLite database {self.path}: {problem}")
        if not self.path.exists():
            # Connecting would create an empty file; the schema comes from migrations only.
            raise StoreError(f"database file {self.path} does not exist; run `executor migrate`")
        try:
            self._writer = self._connect(busy_timeout_ms=0)
            self._reader = self._connect(busy_timeout_ms=BUSY_TIMEOUT_MS)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc

    def _connect(self, busy_timeout_ms: int) -> sqlite3.Connection:
        # check_same_thread=False: `_begin` may wait for the lock in a worker thread; the
        # write lock guarantees that one thread at a time uses the connection.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row  # rows read by column name (`common`), made in C
        for pragma in _PRAGMAS:
            db.execute(pragma)
        db.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        return db

    async def close(self) -> None:
        async with self._write_lock:  # never close under a transaction in progress
            for name in ("_writer", "_reader"):
                db = getattr(self, name)
                setattr(self, name, None)
                if db is not None:
                    db.close()

    def _connection(self, db: sqlite3.Connection | None) -> sqlite3.Connection:
        if db is None:
            raise StoreError("the store is not open")
        return db

    async def _begin(self, db: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``; when another process holds the write lock, wait for it in a
        worker thread (up to the busy timeout), never on the event loop."""
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        stop = threading.Event()
        try:
            await _see_through(asyncio.to_thread(_begin_waiting, db, stop), stop)
        except asyncio.CancelledError:
            _rollback(db)  # the thread may have taken the lock meanwhile: let go of it
            raise

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        async with self._write_lock:
            db = self._connection(self._writer)
            try:
                await self._begin(db)
            except sqlite3.Error as exc:
                raise StoreError(f"database error: {exc}") from exc
            try:
                yield db
            except BaseException as exc:
                _rollback(db)
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"database error: {exc}") from exc
                raise
            try:
                # In a thread: the fsync takes long enough for the loop to take in more
                # requests meanwhile, which then share the next commit (group commit).
                await _see_through(asyncio.to_thread(db.execute, "COMMIT"))
            except sqlite3.Error as exc:
                _rollback(db)
                raise StoreError(f"database error: {exc}") from exc

    async def _fetch_text(self, query: str, params: dict[str, Any] | None = None) -> list[sqlite3.Row]:
        # The reader: in WAL mode it never waits for the writer, nor sees its work half done.
        try:
            return self._connection(self._reader).execute(query, params or {}).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}") from exc

    def _now_param(self) -> float:
        return self._clock()

    async def _execute(self, name: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        async with self._write() as db:
            return db.execute(self._sql[name], params).fetchall()

    async def _execute_many(self, name: str, params: Sequence[dict[str, Any]]) -> None:
        async with self._write() as db:
            db.executemany(self._sql[name], params)

    # -- instances -----------------------------------------------------------------------

    async def register_instance(self, instance: Instance) -> None:
        async with self._write() as db:
            db.execute(
                self._sql["register_instance"],
                {
                    "id": instance.id,
                    "host": instance.host,
                    "pid": instance.pid,
                    "version": instance.version,
                    "state": instance.state,
                    "heartbeat_timeout": instance.heartbeat_timeout,
                    "now": self._clock(),
                },
            )

    async def heartbeat(self, instance_id: str, state: str) -> None:
        async with self._write() as db:
            cursor = db.execute(
                self._sql["heartbeat"], {"id": instance_id, "state": state, "now": self._clock()}
            )
            if cursor.rowcount != 1:
                raise StoreError(f"instance {instance_id} is not registered")

    async def release_instance(self, instance_id: str) -> int:
        async with self._write() as db:
            db.execute(self._sql["stop_instance"], {"id": instance_id})
            cursor = db.execute(
                self._sql["expire_owner_leases"], {"owner": instance_id, "now": self._clock()}
            )
            return cursor.rowcount

    async def release_silent_instances(self, *, me: str, unknown_timeout: float) -> dict[str, int]:
        now = self._clock()
        released: dict[str, int] = {}
        async with self._write() as db:
            rows = db.execute(
                self._sql["stop_silent_instances"],
                {"self": me, "now": now, "unknown_timeout": unknown_timeout},
            ).fetchall()
            for row in rows:
                expired = db.execute(self._sql["expire_owner_leases"], {"owner": row["id"], "now": now})
                released[row["id"]] = expired.rowcount
        return released

    # -- workflows -----------------------------------------------------------------------

    async def register_workflow(
        self, name: str, digest: str, source: str, definition: dict[str, Any]
    ) -> tuple[WorkflowRecord, bool]:
        async with self._write() as db:
            params: dict[str, Any] = {"name": name, "digest": digest}
            existing = db.execute(self._sql["workflow_by_digest"], params).fetchone()
            if existing is not None:
                record = common.workflow_record(existing)
                latest = db.execute(self._sql["latest_workflow"], {"name": name}).fetchone()
                if latest is not None and latest["version"] == record.version:
                    self._sync_schedules(db, name, record.definition)
                return record, False
            params.update(source=source, definition=common.dumps(definition), now=self._clock())
            row = db.execute(self._sql["insert_workflow"], params).fetchone()
            assert row is not None
            self._sync_schedules(db, name, definition)
            return common.workflow_record(row), True

    def _sync_schedules(self, db: sqlite3.Connection, name: str, definition: dict[str, Any]) -> None:
        now = self._clock()
        declared = common.declared_schedules(definition)
        for schedule_id, spec in declared.items():
            params = {"workflow_name": name, "schedule_id": schedule_id, "spec": spec, "now": now}
            db.execute(self._sql["sync_schedule"], params)
        params = {"workflow_name": name, "keep": json.dumps(list(declared)), "now": now}
        db.execute(self._sql["retire_schedules"], params)

    # -- runs ----------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Txn]:
        async with self._write() as db:
            yield SQLiteTxn(db, self._sql, self._clock)

    async def get_run(self, run_id: str) -> tuple[RunRecord, list[StepRow]] | None:
        runs = await self._fetch("get_run", {"id": run_id})
        if not runs:
            return None
        steps = await self._fetch("run_steps", {"run_id": run_id})
        return common.run_record(runs[0]), [common.step_row(row) for row in steps]

    # -- claiming ------------------------------------------------------------------------

    async def renew_leases(self, owner: str, rows: Sequence[tuple[int, str]], lease: float) -> set[int]:
        if not rows:
            return set()
        renewed = set()
        expires = self._clock() + lease
        async with self._write() as db:
            for row_id, token in rows:
                cursor = db.execute(
                    self._sql["renew_lease"],
                    {"id": row_id, "token": token, "owner": owner, "expires": expires},
                )
                if cursor.rowcount == 1:
                    renewed.add(row_id)
        return renewed

    async def hand_back(self, claimed: Sequence[Claimed], started: Collection[int] = ()) -> int:
        count = 0
        now = self._clock()
        async with self._write() as db:
            for item in claimed:
                cursor = db.execute(
                    self._sql["hand_back"],
                    {
                        "id": item.row.id,
                        "token": item.token,
                        "resumed": item.resumed,
                        "started": item.row.id in started,
                        "now": now,
                    },
                )
                count += cursor.rowcount
        return count

    # -- logs ----------------------------------------------------------------------------

    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        if not lines:
            return
        async with self._write() as db:
            db.executemany(self._sql["append_log"], common.log_params(lines))

    async def record_llm_calls(self, calls: Sequence[NewLlmCall]) -> None:
        if not calls:
            return
        async with self._write() as db:
            db.executemany(self._sql["record_llm_call"], common.llm_call_params(calls, self._clock()))

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
        after_at, after_id = after or (-1.0, "")  # before every run: times are positive
        params = {
            "before": self._clock() - older_than,
            "after_at": after_at,
            "after_id": after_id,
            "workflow": workflow,
            "status": status,
            "limit": limit,
        }
        page_query = self._sql["purge_page_of_workflow" if workflow else "purge_page"]
        if dry_run:  # the reader: no write lock taken
            page = await self._fetch("purge_page_of_workflow" if workflow else "purge_page", params)
            ids = json.dumps([row["id"] for row in page if row["chosen"]])
            counted = await self._fetch("count_purgeable", {**params, "ids": ids})
            return PurgeBatch(counted[0]["purgeable"], _purge_cursor(page))

        def purge(db: sqlite3.Connection) -> PurgeBatch:
            page = db.execute(page_query, params).fetchall()
            ids = json.dumps([row["id"] for row in page if row["chosen"]])
            deleted = 0
            while True:  # again while it deletes: parents whose children just went
                count = db.execute(self._sql["purge_runs"], {**params, "ids": ids}).rowcount
                deleted += count
                if count == 0:
                    break
            if deleted and db.execute(self._sql["auto_vacuum"]).fetchone()[0] == _INCREMENTAL:
                # The pages this page freed go back to the file now, while they are few:
                # moving a page onto a free one searches the free list, which is slow once
                # it holds a whole purge's pages (minutes per gigabyte). One page a step.
                free = min(db.execute(self._sql["free_pages"]).fetchone()[0], _VACUUM_PAGES)
                for _ in range(free):
                    db.execute(self._sql["incremental_vacuum_page"])
            return PurgeBatch(deleted, _purge_cursor(page))

        async with self._write() as db:
            # In a thread: a page's cascade (its steps, logs and signals) takes milliseconds,
            # which the event loop spends serving meanwhile.
            batch: PurgeBatch = await _see_through(asyncio.to_thread(purge, db))
        return batch

    async def reclaim_space(self) -> int:
        def vacuum(db: sqlite3.Connection) -> int:
            if db.execute(self._sql["auto_vacuum"]).fetchone()[0] != _INCREMENTAL:
                return 0  # a database from before incremental auto-vacuum: see executor.migrate
            try:
                # As a script: stepped to its end (the pragma frees one page per step), in a
                # transaction of its own.
                db.executescript(self._sql["incremental_vacuum"])
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                # Another process is writing: no waiting here, the caller tries again later.
            free: int = db.execute(self._sql["free_pages"]).fetchone()[0]
            return free

        async with self._write_lock:  # one transaction at a time on the writer, as `_write`
            db = self._connection(self._writer)
            try:
                left: int = await _see_through(asyncio.to_thread(vacuum, db))
            except sqlite3.Error as exc:
                _rollback(db)
                raise StoreError(f"database error: {exc}") from exc
        return left

    async def take_chore(self, name: str, owner: str, *, lease: float, every: float) -> bool:
        params = {"name": name, "owner": owner, "lease": lease, "every": every, "now": self._clock()}
        async with self._write() as db:
            return bool(db.execute(self._sql["take_chore"], params).fetchall())

    async def finish_chore(self, name: str, owner: str, *, done: bool) -> None:
        params = {"name": name, "owner": owner, "done": done, "now": self._clock()}
        async with self._write() as db:
            db.execute(self._sql["finish_chore"], params)


class SQLiteTxn(Txn):
    """A `Txn` inside the writer's ``BEGIN IMMEDIATE``: the whole database is locked for
    writes, so `lock_run` needs no row lock of its own."""

    def __init__(self, db: sqlite3.Connection, sql: dict[str, str], clock: Clock) -> None:
        self.db = db
        self.sql = sql
        self.clock = clock
        self._workflows: dict[tuple[str, int | None], WorkflowRecord | None] = {}

    @property
    def writes(self) -> int:
        return self.db.total_changes

    async def _one(self, name: str, params: dict[str, Any]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(self.sql[name], params).fetchone()
        return row

    async def _all(self, name: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        return self.db.execute(self.sql[name], params).fetchall()

    async def claim(self, owner: str, limit: int, lease: float) -> list[Claimed]:
        now = self.clock()
        due = self.db.execute(self.sql["due_steps"], {"now": now, "limit": limit}).fetchall()
        if not due:
            return []
        ids = json.dumps([row["id"] for row in due])
        waiting = json.dumps([row["id"] for row in due if row["status"] == StepStatus.WAITING])
        token = uuid.uuid4().hex
        params = {"owner": owner, "token": token, "now": now, "expires": now + lease, "ids": ids}
        self.db.execute(self.sql["claim_rows"], params)
        self.db.execute(self.sql["start_runs"], {"ids": ids, "now": now})
        claimed = self.db.execute(self.sql["claimed"], {"ids": ids, "waiting": waiting})
        return [common.claimed(row) for row in claimed]

    async def lock_run(self, run_id: str) -> RunRecord | None:
        row = await self._one("get_run", {"id": run_id})
        return None if row is None else common.run_record(row)

    async def run_steps(self, run_id: str) -> list[StepRow]:
        return [common.step_row(row) for row in await self._all("run_steps", {"run_id": run_id})]

    async def get_step(self, row_id: int) -> StepRow | None:
        row = await self._one("get_step", {"id": row_id})
        return None if row is None else common.step_row(row)

    async def step_rows(self, run_id: str, step_ids: Sequence[str]) -> list[StepRow]:
        rows = await self._all("step_rows", {"run_id": run_id, "ids": json.dumps(list(step_ids))})
        return [common.step_row(row) for row in rows]

    async def step_results(self, run_id: str) -> dict[str, tuple[StepStatus, Any]]:
        return common.step_results(await self._all("step_results", {"run_id": run_id}))

    async def unfinished_steps(self, run_id: str) -> int:
        row = await self._one("unfinished_steps", {"run_id": run_id})
        assert row is not None  # an aggregate without GROUP BY gives one row
        return int(row["unfinished"])

    async def items(self, run_id: str, step_id: str) -> list[StepRow]:
        rows = await self._all("items", {"run_id": run_id, "step_id": step_id})
        return [common.step_row(row) for row in rows]

    async def item(self, run_id: str, step_id: str, index: int) -> StepRow | None:
        row = await self._one("item", {"run_id": run_id, "step_id": step_id, "index": index})
        return None if row is None else common.step_row(row)

    async def items_from(self, run_id: str, step_id: str, first: int, count: int) -> list[StepRow]:
        params = {"run_id": run_id, "step_id": step_id, "first": first, "count": count}
        return [common.step_row(row) for row in await self._all("items_from", params)]

    async def insert_run(self, run: NewRun) -> RunRecord:
        row = await self._one("insert_run", {**common.run_params(run, common.json_text), "now": self.clock()})
        if row is None:
            raise DuplicateRun(run.idempotency_key)
        return common.run_record(row)

    async def insert_runs(
        self, runs: Sequence[tuple[NewRun, Sequence[NewStep]]]
    ) -> list[tuple[RunRecord, list[StepRow]] | None]:
        if not runs:
            return []
        now = self.clock()
        # Each run's parameters as an object of one JSON array: one statement for them all.
        given = json.dumps([common.run_params(new, common.json_text) for new, _ in runs], ensure_ascii=False)
        rows = self.db.execute(self.sql["insert_runs"], {"runs": given, "now": now}).fetchall()
        created = {row["id"]: common.run_record(row) for row in rows}
        steps: dict[str, list[StepRow]] = {run_id: [] for run_id in created}
        params = [
            p
            for new, new_steps in runs
            if new.id in created
            for p in common.step_params(new.id, new_steps, common.dumps)
        ]
        if params:
            given = json.dumps(params, ensure_ascii=False)
            for row in self.db.execute(self.sql["insert_steps_of_runs"], {"steps": given, "now": now}):
                step = common.step_row(row)
                steps[step.run_id].append(step)
        return [(created[new.id], steps[new.id]) if new.id in created else None for new, _ in runs]

    async def find_run(self, workflow_name: str, idempotency_key: str) -> RunRecord | None:
        row = await self._one("find_run", {"workflow_name": workflow_name, "key": idempotency_key})
        return None if row is None else common.run_record(row)

    async def find_tick_run(self, workflow_name: str, schedule_id: str, tick: float) -> RunRecord | None:
        params = {"workflow_name": workflow_name, "schedule_id": schedule_id, "tick": tick}
        row = await self._one("find_tick_run", params)
        return None if row is None else common.run_record(row)

    async def update_run(self, run_id: str, **changes: Unpack[RunChanges]) -> None:
        common.check_columns(changes, common.RUN_UPDATABLE, "runs")
        await self._update("runs", run_id, dict(changes), common.RUN_JSON)

    async def child_runs(self, run_id: str) -> list[RunRecord]:
        return [common.run_record(row) for row in await self._all("child_runs", {"run_id": run_id})]

    async def lock_schedule(
        self, workflow: str, schedule_id: str, *, wait: bool = False
    ) -> tuple[ScheduleRow, float] | None:
        # The transaction holds the database's write lock: nobody else can be firing it.
        row = await self._one("get_schedule", {"workflow_name": workflow, "schedule_id": schedule_id})
        return None if row is None else (common.schedule_row(row), self.clock())

    async def update_schedule(
        self, workflow: str, schedule_id: str, **changes: Unpack[ScheduleFields]
    ) -> None:
        common.check_columns(changes, common.SCHEDULE_UPDATABLE, "schedules")
        if not changes:
            return
        values: dict[str, Any] = {**changes, "updated_at": self.clock()}
        # Column names come from the allow-list in `common`, never from callers' data.
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        params = {c: json.dumps(v) if c == "buffered" else v for c, v in values.items()}
        self.db.execute(
            f"UPDATE schedules SET {assignments} WHERE workflow_name = :_workflow AND schedule_id = :_id",
            {**params, "_workflow": workflow, "_id": schedule_id},
        )

    async def unfinished_schedule_runs(self, workflow: str, schedule_id: str) -> list[RunRecord]:
        rows = await self._all(
            "unfinished_schedule_runs", {"workflow_name": workflow, "schedule_id": schedule_id}
        )
        return [common.run_record(row) for row in rows]

    async def insert_steps(self, run_id: str, steps: Sequence[NewStep]) -> list[StepRow]:
        now = self.clock()
        query = self.sql["insert_step"]
        return [
            common.step_row(self.db.execute(query, {**params, "now": now}).fetchone())
            for params in common.step_params(run_id, steps, common.dumps)
        ]

    async def update_step(self, row_id: int, **changes: Unpack[StepChanges]) -> None:
        common.check_columns(changes, common.STEP_UPDATABLE, "steps")
        await self._update("steps", row_id, common.leaving_running(changes), common.STEP_JSON)

    async def _update(
        self, table: str, key: Any, changes: dict[str, Any], json_columns: frozenset[str]
    ) -> None:
        if not changes:
            return
        # Column names come from the allow-lists in `common`, never from callers' data.
        assignments = ", ".join(f"{column} = :{column}" for column in changes)
        params = {
            c: common.dumps(v) if c in json_columns else common.text(v) if c in common.FREE_TEXT else v
            for c, v in changes.items()
        }
        self.db.execute(f"UPDATE {table} SET {assignments} WHERE id = :_key", {**params, "_key": key})

    async def delete_items(self, run_id: str, step_id: str) -> None:
        self.db.execute(self.sql["keep_item_signals"], {"run_id": run_id, "step_id": step_id})
        self.db.execute(self.sql["delete_items"], {"run_id": run_id, "step_id": step_id})

    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowRecord | None:
        # Read once per transaction, as PostgreSQL's: a batch of 1,000 runs of one workflow
        # reads it once. Nothing registers a version meanwhile (this holds the write lock).
        key = (name, version)
        if key not in self._workflows:
            if version is None:
                row = await self._one("latest_workflow", {"name": name})
            else:
                row = await self._one("workflow_version", {"name": name, "version": version})
            self._workflows[key] = None if row is None else common.workflow_record(row)
        return self._workflows[key]

    async def insert_signal(self, run_id: str, name: str, payload: Any, key: str | None = None) -> int:
        payload_text = common.dumps(payload)
        params = {"run_id": run_id, "name": name, "payload": payload_text, "key": key, "now": self.clock()}
        cursor = self.db.execute(self.sql["insert_signal"], params)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def signal_taken(self, run_id: str, name: str, key: str) -> bool | None:
        row = await self._one("signal_by_key", {"run_id": run_id, "name": name, "key": key})
        return None if row is None else bool(row["taken"])

    async def take_first_signal(self, run_id: str, names: Sequence[str], step: int) -> tuple[str, Any] | None:
        params = {"run_id": run_id, "names": json.dumps(list(names)), "step": step, "now": self.clock()}
        row = await self._one("take_signal", params)
        return None if row is None else (row["name"], common.loads(row["payload"]))

    # -- mutual exclusion (the write lock serialises every key) --------------------------

    async def take_place(self, key: str, limit: int, run_id: str, step: int | None) -> Place:
        params = {"key": key, "run_id": run_id, "step": step, "limit": limit, "now": self.clock()}
        row = await self._one("key_place", params)
        if row is None:
            self.db.execute(self.sql["take_place"], params)
            row = await self._one("key_place", params)
        assert row is not None
        return common.place(row)

    async def leave_places(self, run_id: str, step: int | None) -> list[str]:
        which = "run" if step is None else "step"
        params = {"run_id": run_id, "step": step}
        keys = [row["key"] for row in await self._all(f"{which}_place_keys", params)]
        if keys:
            self.db.execute(self.sql[f"leave_{which}_places"], params)
        return keys

    async def keep_artifacts(self, step: int, token: str) -> None:
        self.db.execute(self.sql["supersede_artifacts"], {"step": step})
        self.db.execute(self.sql["keep_artifacts"], {"step": step, "token": token})

    async def let_in(self, key: str) -> list[tuple[str, int | None]]:
        let: list[tuple[str, int | None]] = []
        while (head := await self._one("key_head", {"key": key})) is not None:
            if head["holders"] >= min(head["lim"], head["tightest"] or head["lim"]):
                break
            row = await self._one("let_in", {"id": head["id"], "now": self.clock()})
            assert row is not None
            let.append((str(row["run_id"]), row["step"]))
        return let

    async def places_under(self, key: str) -> list[Place]:
        return [common.place(row) for row in await self._all("places_under", {"key": key})]


def _begin_waiting(db: sqlite3.Connection, stop: threading.Event) -> None:
    """``BEGIN IMMEDIATE``, waiting up to the busy timeout for another process's lock, in
    slices of `WAIT_SLICE_MS`: a cancelled wait (``stop``) ends within one slice, where one
    long busy wait cannot be interrupted."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    db.execute(f"PRAGMA busy_timeout = {WAIT_SLICE_MS}")
    try:
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                if not busy or stop.is_set() or time.monotonic() > deadline:
                    raise
    finally:
        db.execute("PRAGMA busy_timeout = 0")


async def _see_through(work: Awaitable[Any], stop: threading.Event | None = None) -> Any:
    """Await ``work`` (in a thread, on the connection) to its end even when cancelled
    meanwhile (``stop`` tells it to end soon), then re-raise the cancellation: the
    connection must not be used again while the thread still uses it (a commit, or a BEGIN
    waiting for the lock)."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if stop is not None:
            stop.set()
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation is what the caller hears
        raise


def _purge_cursor(page: Sequence[sqlite3.Row]) -> PurgeCursor | None:
    """The cursor after a page of `purge_runs`: its last run (None: the page was empty)."""
    return (page[-1]["finished_at"], page[-1]["id"]) if page else None


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.execute("ROLLBACK")

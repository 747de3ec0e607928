"""The engine: the durable-execution API (register, submit, signal, cancel, ...), and the
work source of the claim loop (claim, run, hand back), with leases kept alive and the
leases and runs that outlived their time reaped.

Guarantee: a step runs at least once, and its completion is recorded exactly once. An
attempt holds a lease (a token); the lease is renewed while the attempt runs; an outcome
is recorded only while the token still holds the row. A lease that expired (the instance
died or stalled) counts as a failed attempt ("executor lost") and is retried if the
step's retry policy allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from loguru import logger

from executor.engine.commit import GroupCommit
from executor.engine.loop import ClaimLoop
from executor.engine.outcomes import Failed, Outcome
from executor.engine.runner import run_attempt
from executor.engine.transitions import Env, RunChange
from executor.errors import ExecutorError, RunNotFound, StoreConflict, StoreError
from executor.store import Store
from executor.store.base import Txn
from executor.store.records import Claimed, RunRecord, StepRow, WorkflowRecord
from executor.workflow import Masker, Workflow
from executor.workflow.expressions import secrets_from_environ

T = TypeVar("T")
Event = tuple[str, str, str, dict[str, Any]]


class Engine:
    def __init__(
        self,
        store: Store,
        *,
        instance_id: str,
        concurrency: int = 16,
        poll_interval: float = 1.0,
        lease: float = 30.0,
        secrets: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.instance_id = instance_id
        self.lease = lease
        self.secrets = secrets_from_environ() if secrets is None else secrets
        self.masker = Masker(self.secrets)
        self.loop: ClaimLoop[Claimed] = ClaimLoop(self, concurrency=concurrency, poll_interval=poll_interval)
        self.listeners: list[Callable[[Event], None]] = []
        self._workflows: dict[tuple[str, int], Workflow] = {}
        self._held: dict[int, Claimed] = {}
        # False while the database does not answer: /health/ready says so.
        self.database_ok = True
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self.commits = GroupCommit(store, self._env, self._after, claimer=self)

    # -- definitions ---------------------------------------------------------------------

    def load_workflow(self, name: str, version: int, definition: dict[str, Any]) -> Workflow:
        """A stored version, parsed once: versions never change once stored."""
        key = (name, version)
        workflow = self._workflows.get(key)
        if workflow is None:
            workflow = self._workflows[key] = Workflow.from_json(definition)
        return workflow

    def _cached_workflow(self, name: str, version: int) -> Workflow | None:
        return self._workflows.get((name, version))

    async def register(self, workflow: Workflow, source: str) -> tuple[WorkflowRecord, bool]:
        record, created = await self.store.register_workflow(
            workflow.name, workflow.digest, source, workflow.to_json()
        )
        if created:
            logger.bind(workflow=record.name, version=record.version).info("registered workflow version")
        return record, created

    # -- changes -------------------------------------------------------------------------

    async def change(
        self,
        body: Callable[[Txn, Env], Awaitable[T]],
        *,
        key: str = "",
        frees: int = 0,
        rows: Sequence[int] = (),
        steps: Sequence[str] = (),
    ) -> T:
        """Run ``body`` in a store transaction, shared with other changes (`GroupCommit`);
        return its result once committed. ``key`` is the run it locks; ``frees`` the claim
        loop slots its commit frees (an attempt's outcome); ``rows`` and ``steps`` what it
        will read of the run (hints)."""
        result: T = await self.commits.run(body, key=key, frees=frees, rows=rows, steps=steps)
        return result

    def _env(self) -> Env:
        return Env(self.load_workflow, self._cached_workflow, self.secrets, self.masker)

    def _after(self, env: Env) -> None:
        """What a committed change asks for: stop attempts it cancelled, tell listeners."""
        for row_id in env.settled_rows:
            # No longer ours to renew: released now, not when the attempt's task resumes
            # (a renewal in between would take the finished attempt for a lost lease).
            self._held.pop(row_id, None)
        for row_id in env.cancelled_rows:
            task = self._tasks.get(row_id)
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for event in env.events:
            for listener in self.listeners:
                listener(event)

    async def _on_run(
        self,
        run_id: str,
        act: Callable[[RunChange], Awaitable[T]],
        **hints: Any,
    ) -> T:
        async def body(txn: Txn, env: Env) -> T:
            return await act(await RunChange.load(txn, env, run_id))

        return await self.change(body, key=run_id, **hints)

    # -- the API -------------------------------------------------------------------------

    async def submit(
        self,
        workflow: str,
        run_input: Any = None,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        priority: int = 0,
    ) -> tuple[RunRecord, bool]:
        """Start a run (committed before this returns); with a used idempotency key, return
        the run it started (False)."""

        async def body(txn: Txn, env: Env) -> tuple[RunRecord, bool]:
            return await RunChange.create(
                txn, env, workflow, {} if run_input is None else run_input,
                version=version, idempotency_key=idempotency_key, priority=priority,
            )  # fmt: skip

        return await self.change(body)

    async def signal(self, run_id: str, name: str, payload: Any = None) -> bool:
        return await self._on_run(run_id, lambda change: change.signal(name, payload))

    async def cancel(self, run_id: str) -> None:
        await self._on_run(run_id, lambda change: change.cancel())

    async def pause(self, run_id: str) -> None:
        await self._on_run(run_id, lambda change: change.pause())

    async def resume(self, run_id: str) -> None:
        await self._on_run(run_id, lambda change: change.resume())

    async def retry(self, run_id: str) -> None:
        await self._on_run(run_id, lambda change: change.retry())

    async def get(self, run_id: str) -> tuple[RunRecord, list[StepRow]]:
        found = await self.store.get_run(run_id)
        if found is None:
            raise RunNotFound(f"no run {run_id}")
        return found

    # -- the claim loop's work source ----------------------------------------------------

    async def claim(self, limit: int) -> Sequence[Claimed]:
        async def body(txn: Txn, env: Env) -> Sequence[Claimed]:
            return await self.claim_in(txn, limit)

        claimed: Sequence[Claimed] = await self.change(body)
        self._took(claimed)
        return claimed

    # -- what the group commit claims for the loop (`commit.Claimer`) --------------------

    def free_slots(self) -> int:
        return self.loop.free_slots()

    async def claim_in(self, txn: Txn, limit: int) -> Sequence[Claimed]:
        return await txn.claim(self.instance_id, limit, self.lease)

    def adopt(self, items: Sequence[Claimed], *, exhausted: bool) -> None:
        self._took(items)
        self.loop.adopt(items, exhausted=exhausted)

    def wake(self) -> None:
        self.loop.wake()

    def _took(self, claimed: Sequence[Claimed]) -> None:
        for item in claimed:
            self._held[item.row.id] = item
            row = item.row
            event = (
                "step",
                row.run_id,
                row.step_id,
                {"status": "running", "item": row.item_index, "attempt": row.attempt},
            )
            for listener in self.listeners:
                listener(event)

    async def next_due(self) -> float | None:
        return await self.store.next_due()

    async def run(self, claimed: Claimed) -> None:
        row = claimed.row
        self._tasks[row.id] = asyncio.current_task()  # type: ignore[assignment]
        try:
            workflow = self._cached_workflow(claimed.workflow_name, claimed.workflow_version)
            if workflow is None:
                record = await self.store.get_workflow(claimed.workflow_name, claimed.workflow_version)
                assert record is not None
                workflow = self.load_workflow(record.name, record.version, record.definition)
            try:
                outcome = await run_attempt(
                    self.store, workflow, claimed, self.secrets, self.masker, self.instance_id
                )
            except ExecutorError:
                raise
            except Exception as exc:  # a bug in an action must not leave the step hanging
                logger.opt(exception=exc).error("step {} crashed", row.step_id)
                outcome = Failed(f"internal error: {type(exc).__name__}: {exc}")
            # Shielded: an attempt that finished is recorded even if shutdown cancels us now.
            await asyncio.shield(self._record(claimed, outcome))
        finally:
            self._tasks.pop(row.id, None)
            self._held.pop(row.id, None)

    async def _record(self, claimed: Claimed, outcome: Outcome) -> None:
        """Record the outcome; while the database is away, keep trying for a while: the
        attempt finished, and running it again is only the last resort (the lease runs
        out and the step is retried elsewhere; this late outcome is then fenced off)."""
        deadline = time.monotonic() + max(2 * self.lease, 60.0)
        delay = 0.2
        while True:
            try:
                await self._record_once(claimed, outcome)
                return
            except StoreConflict:
                raise
            except StoreError as exc:
                if time.monotonic() > deadline:
                    raise
                logger.warning(
                    "cannot record the outcome of step row {} yet: {}", claimed.row.id, exc.message
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _record_once(self, claimed: Claimed, outcome: Outcome) -> None:
        async def act(change: RunChange) -> None:
            row = await change.holds(claimed.row.id, claimed.token)
            if row is None:
                logger.bind(run_id=claimed.row.run_id, step=claimed.row.step_id).warning(
                    "outcome of a lost lease rejected (the step was reclaimed or cancelled)"
                )
                return
            change.env.settled_rows.add(row.id)
            await change.complete(row, outcome)

        row = claimed.row
        workflow = self._cached_workflow(claimed.workflow_name, claimed.workflow_version)
        # What completing it reads: its row, and its dependents with their needs.
        steps = {row.step_id}
        for dependent in workflow.dependents(row.step_id) if workflow is not None else ():
            steps.add(dependent.id)
            steps.update(dependent.needs)
        await self._on_run(row.run_id, act, frees=1, rows=[row.id], steps=sorted(steps))

    async def hand_back(self, items: Sequence[Claimed]) -> None:
        count = await self.store.hand_back(items)
        for item in items:
            self._held.pop(item.row.id, None)
        if count:
            logger.info("handed back {} step(s) to the queue", count)

    # -- leases and timers ---------------------------------------------------------------

    async def maintain(self) -> None:
        """Renew this instance's leases; reap expired leases and overdue runs. Forever."""
        interval = max(0.05, min(self.lease / 3, 5.0))
        while True:
            try:
                await self.store.ping()
                if not self.database_ok:
                    logger.info("the database answers again")
                self.database_ok = True
                await self.renew()
                await self.reap()
            except ExecutorError as exc:
                if self.database_ok:
                    logger.warning("the database does not answer: {}", exc.message)
                self.database_ok = False
            # While the database is away, look again soon: readiness comes back with it.
            await asyncio.sleep(interval if self.database_ok else min(interval, 0.5))

    async def renew(self) -> None:
        held = [(row_id, item.token) for row_id, item in list(self._held.items())]
        if not held:
            return
        renewed = await self.store.renew_leases(self.instance_id, held, self.lease)
        for row_id, _ in held:
            if row_id not in renewed and row_id in self._held:
                logger.warning("lost the lease of step row {}; stopping its attempt", row_id)
                self._held.pop(row_id, None)
                task = self._tasks.get(row_id)
                if task is not None:
                    task.cancel()

    async def reap(self) -> None:
        for run_id, row_id, token in await self.store.expired_leases(100):
            logger.bind(run_id=run_id).warning("lease of step row {} expired: executor lost", row_id)
            with contextlib.suppress(RunNotFound):
                await self._on_run(run_id, _expire(row_id, token))
        for run_id in await self.store.overdue_runs(100):
            with contextlib.suppress(RunNotFound):
                await self._on_run(run_id, lambda change: change.time_out())

    async def recover_dead_local(self) -> int:
        """Expire at once the leases of instances on this host whose process is gone (a
        restart after ``kill -9``), instead of waiting out their lease.

        SQLite only: its processes share one machine and so one pid namespace. A fleet's
        containers may share a host name without sharing pids, and would take each other
        for dead; there the leases run out as usual.
        """
        if self.store.dialect != "sqlite":
            return 0
        host = socket.gethostname()
        recovered = 0
        for instance in await self.store.dead_local_instances(host, [p for p in _alive_pids()]):
            recovered += await self.store.release_instance(instance.id)
        return recovered


def _expire(row_id: int, token: str) -> Callable[[RunChange], Awaitable[None]]:
    return lambda change: change.lease_expired(row_id, token)


def _alive_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]

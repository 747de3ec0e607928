"""Group commit: the engine's changes share transactions, and so commits and fsyncs.

Every change (a step's outcome, a submitted run, a signal, a claim) is queued here with a
future. One writer task takes everything queued, runs it in one transaction, commits once,
and only then answers each caller: nothing is acknowledged before it is durable, and many
changes pay for one commit (SQLite fsyncs every commit; PostgreSQL flushes its WAL).

A change that raises without having written anything (a run not found, a bad input) is
answered with its error and the others go on. A change that fails after writing, or a
transaction that fails, rolls the whole group back; each change is then run again in a
transaction of its own, so that one change's failure is never another's.

The writer also claims: when a group frees slots of the claim loop (outcomes of its
attempts) or queues new work, it leases ready steps for the free slots in the same
transaction and hands them to the loop. A chain then costs one commit per step, and a
submitted run's first step starts without waiting for a wake-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from executor.engine.transitions import ChangeScope
from executor.errors import ExecutorError, StoreConflict, StoreError
from executor.render.renderer import RenderPending
from executor.store.base import Store, Txn

T = TypeVar("T")
Body = Callable[[Txn, ChangeScope], Awaitable[Any]]
MAX_GROUP = 512  # changes per transaction: bounds how long one transaction holds locks
CONFLICT_RETRIES = 5


@dataclass
class Change(Generic[T]):
    body: Body
    future: asyncio.Future[Any]
    key: str  # the run it locks ("" for none): groups lock runs in this order
    frees: int  # claim-loop slots that become free when this change is committed
    rows: Sequence[int] = ()  # step rows it will read (a hint for `Txn.prefetch`)
    steps: Sequence[str] = ()  # step-level rows of its run it will read (likewise)


class Claimer(Protocol):
    """What the writer needs from the claim loop to claim for it (see `Engine`)."""

    @property
    def claiming(self) -> bool:
        """False once a drain began: a group then claims nothing, even for slots it frees."""
        ...

    def free_slots(self) -> int: ...

    def reserve(self, count: int) -> None:
        """Promise ``count`` slots to the writer's claim, so that the loop does not claim for
        them too meanwhile (until `adopt` or `unreserve`)."""

    def unreserve(self, count: int) -> None: ...

    async def claim_in(self, txn: Txn, limit: int) -> Sequence[Any]: ...

    def adopt(self, items: Sequence[Any], *, exhausted: bool, reserved: int) -> None: ...

    def wake(self) -> None:
        """Work was queued that the writer did not claim: let the loop look for it."""


class GroupCommit:
    def __init__(
        self,
        store: Store,
        make_scope: Callable[[], ChangeScope],
        after: Callable[[ChangeScope], None],
        claimer: Claimer | None = None,
    ) -> None:
        self.store = store
        self.make_scope = make_scope
        self.after = after
        self.claimer = claimer
        self._queue: list[Change[Any]] = []
        self._writer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions committed so far (for tests and benchmarks)

    async def run(
        self,
        body: Body,
        *,
        key: str = "",
        frees: int = 0,
        rows: Sequence[int] = (),
        steps: Sequence[str] = (),
    ) -> Any:
        """Run ``body`` in a shared transaction; return its result once committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(Change(body, future, key, frees, rows, steps))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        try:
            while self._queue:
                # Let the callers that the last group answered queue their next changes.
                await asyncio.sleep(0)
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                group.sort(key=lambda change: change.key)
                # Shielded: a group that began is seen through, whoever is cancelled.
                await asyncio.shield(self._commit(group))
        finally:
            self._writer = None
            if self._queue:  # cancelled with changes left: keep serving them
                self._writer = asyncio.create_task(self._write())

    async def _commit(self, group: list[Change[Any]]) -> None:
        try:
            done, claimed, queued = await self._together(group)
        except _Pending as pending:
            # One change waits for a render (it runs again once rendered, see
            # `Engine.change`): the others go on together without it, not one by one.
            _answer(pending.change.future, pending.render)
            rest = [change for change in group if change is not pending.change]
            if rest:
                await self._commit(rest)
            return
        except Exception:
            # One change's failure must not be another's: each on its own.
            await asyncio.gather(*(self._alone(change) for change in group if not change.future.done()))
            return
        self.groups += 1
        try:
            for change, scope, result in done:
                self.after(scope)  # before the claimed steps start: events keep their order
                _answer(change.future, result)
        finally:  # leased and committed: they run, and their reserved slots are given back
            if self.claimer is not None and claimed is not None:
                self.claimer.adopt(claimed.items, exhausted=not claimed.full, reserved=claimed.reserved)
        if self.claimer is not None and queued and (claimed is None or claimed.full):
            self.claimer.wake()

    async def _together(
        self, group: list[Change[Any]]
    ) -> tuple[list[tuple[Change[Any], ChangeScope, Any]], GroupClaim | None, bool]:
        done: list[tuple[Change[Any], ChangeScope, Any]] = []
        queued = False
        claimed: GroupClaim | None = None
        try:
            async with self.store.transaction() as txn:
                await txn.prefetch(
                    [change.key for change in group if change.key],
                    [row for change in group for row in change.rows],
                    [(change.key, step) for change in group for step in change.steps],
                )
                for change in group:
                    scope = self.make_scope()
                    writes = txn.writes
                    try:
                        result: Any = await change.body(txn, scope)
                    except RenderPending as exc:
                        raise _Pending(change, exc) from exc
                    except ExecutorError as exc:
                        if txn.writes != writes or isinstance(exc, StoreError):
                            raise
                        scope = self.make_scope()  # nothing happened: no events either
                        result = exc
                    done.append((change, scope, result))
                    queued = queued or scope.queued
                claimed = await self._claim(txn, group, queued)
                if queued and (claimed is None or claimed.full):
                    await txn.work_queued()  # others may help with what we could not take
        except BaseException:
            if claimed is not None and self.claimer is not None:
                self.claimer.unreserve(claimed.reserved)  # its claim was rolled back
            raise
        return done, claimed, queued

    async def _claim(self, txn: Txn, group: list[Change[Any]], queued: bool) -> GroupClaim | None:
        frees = sum(change.frees for change in group)
        if self.claimer is None or not (queued or frees) or not self.claimer.claiming:
            return None
        limit = self.claimer.free_slots() + frees
        if limit <= 0:
            return None
        # Promised before the claim: the loop, claiming at the same time, must not count
        # these slots free too (with --concurrency 1, two steps ran at once).
        self.claimer.reserve(limit)
        try:
            items = await self.claimer.claim_in(txn, limit)
        except BaseException:
            self.claimer.unreserve(limit)
            raise
        return GroupClaim(items, full=len(items) == limit, reserved=limit)

    async def _alone(self, change: Change[Any]) -> None:
        for attempt in range(CONFLICT_RETRIES):
            scope = self.make_scope()
            try:
                async with self.store.transaction() as txn:
                    result = await change.body(txn, scope)
                    if scope.queued:
                        await txn.work_queued()
            except StoreConflict as exc:
                if attempt < CONFLICT_RETRIES - 1:
                    continue
                _answer(change.future, exc)
                return
            except Exception as exc:
                _answer(change.future, exc)
                return
            self.after(scope)
            if scope.queued and self.claimer is not None:
                self.claimer.wake()
            _answer(change.future, result)
            return


class _Pending(Exception):
    """``change`` met a template still rendering: the group rolls back without it."""

    def __init__(self, change: Change[Any], render: RenderPending) -> None:
        self.change = change
        self.render = render


def _answer(future: asyncio.Future[Any], result: Any) -> None:
    """Give a caller its result (an exception is raised to it); a caller that was cancelled
    meanwhile is gone, and its change stands all the same."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


@dataclass
class GroupClaim:
    """What the writer leased for the claim loop at the end of a group."""

    items: Sequence[Any]
    full: bool  # as many as it asked for: there may be more ready
    reserved: int  # the slots promised to it (`Claimer.reserve`)

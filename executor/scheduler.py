"""Firing schedules: one run per tick, fleet-wide, on time, with overlap and catch-up rules.

Every instance of `executor serve` runs a `Scheduler` loop; any of them may fire a due
schedule. Exactly one run per tick is guaranteed twice over: the schedule's row is locked
for the transaction that handles it (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write
lock on SQLite), and a run's ``(workflow, schedule, tick)`` is unique, so a tick fired
twice (a lost lock, a backfill of a tick already run) finds its run instead of making
another. The schedule's next tick advances in the same transaction as the run is created:
a crash leaves either both or neither.

A tick is handled once ``now`` has passed it (plus the schedule's jitter). Ticks older than
the catch-up window (after downtime) are counted as missed; younger ones are handled in
order under the overlap policy, with Temporal's meanings:

* ``skip``: while a run of the schedule is unfinished, a tick starts nothing (skipped);
* ``buffer_one``: one tick waits for the running one to end, later ones are skipped;
* ``buffer_all``: every tick waits, and they start one after another;
* ``cancel_other``: the unfinished runs are cancelled and the tick starts;
* ``allow_all``: every tick starts, whatever is running.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice, takewhile
from typing import TypeVar

from loguru import logger

from executor import metrics
from executor.cancel import wait_event
from executor.engine import Engine
from executor.engine.transitions import ChangeScope, RunChange
from executor.errors import ExecutorError, RunStateConflict, StoreError
from executor.statuses import RUN_FINAL
from executor.store.base import Txn
from executor.store.records import Origin, RunRecord, ScheduleFields, ScheduleRow
from executor.workflow.schedules import Schedule, iso

__all__ = ["BackfillResult", "ScheduleNotFound", "ScheduleView", "Scheduler"]

BATCH = 50  # due schedules read per pass
TICKS_PER_PASS = 100  # in-window ticks one transaction handles (the rest: the next pass)
MAX_COUNTED = 10_000  # missed ticks counted one by one per pass (then skipped ahead)
MAX_SLEEP = 1.0  # look again at least this often: schedules registered or resumed elsewhere
MIN_SLEEP = 0.05  # after a pass that found a due schedule not yet due by the store's clock
BUFFER_POLL = 1.0  # a schedule with buffered ticks looks for the end of its run this often
ERROR_BACKOFF = 5.0
MAX_BACKFILL = 1000
NEXT_TICKS = 10

T = TypeVar("T")
# What an operator's action on a locked schedule gives (see `Scheduler._act`): its result,
# and the changes to the schedule's row.
_Acted = tuple[T, ScheduleFields]
_Action = Callable[[Txn, ChangeScope, ScheduleRow, float], Awaitable[_Acted[T]]]


class ScheduleNotFound(ExecutorError):
    """No active schedule has that workflow and id."""

    code = "not_found"
    http_status = 404


class BackfillTooLarge(ExecutorError):
    code = "invalid_request"
    http_status = 422


@dataclass
class Outcomes:
    """What one pass over a schedule did with its ticks (reported as metrics once committed)."""

    started: int = 0
    skipped: int = 0
    buffered: int = 0
    missed: int = 0
    cancelled: int = 0
    runs: list[RunRecord] = field(default_factory=list)

    def report(self) -> None:
        for outcome in ("started", "skipped", "buffered", "missed"):
            metrics.schedule_ticks(outcome, getattr(self, outcome))


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as the API shows it: its declaration, state and coming ticks."""

    row: ScheduleRow
    spec: Schedule
    next_ticks: list[float]


@dataclass(frozen=True)
class BackfillResult:
    ticks: list[float]
    started: int = 0
    buffered: int = 0
    existing: int = 0


class Scheduler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self._wake = asyncio.Event()

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Fire due schedules until cancelled; sleeps until the next is due (at most
        `MAX_SLEEP`), so an idle instance costs one indexed read a second."""
        while True:
            try:
                if await self.fire_due() == BATCH:
                    continue  # more may be due
                next_due = await self.store.next_schedule_due()
                pause = (
                    MAX_SLEEP if next_due is None else min(MAX_SLEEP, max(MIN_SLEEP, next_due - time.time()))
                )
            except ExecutorError as exc:
                logger.warning("schedules not fired: {}", exc.message)
                pause = ERROR_BACKOFF
            self._wake.clear()
            await wait_event(self._wake, pause)

    def wake(self) -> None:
        self._wake.set()

    async def fire_due(self) -> int:
        """One pass: handle up to `BATCH` due schedules (each in a change of its own);
        return how many were due."""
        due = await self.store.due_schedules(BATCH)
        for workflow, schedule_id in due:
            await self.fire(workflow, schedule_id)
        return len(due)

    async def fire(self, workflow: str, schedule_id: str) -> Outcomes:
        """Handle the due ticks of one schedule in one transaction; a schedule whose
        handling fails is moved past its first due tick (counted missed), so that one bad
        tick cannot stop the schedule."""
        try:
            outcomes = await self.engine.change(
                lambda txn, scope: self._fire(txn, scope, workflow, schedule_id)
            )
        except ExecutorError as exc:
            if isinstance(exc, StoreError):
                raise  # the database: the loop tries again later
            logger.bind(workflow=workflow, schedule=schedule_id).error(
                "schedule tick could not start a run: {}", exc.message
            )
            outcomes = await self.engine.change(
                lambda txn, scope: self._give_up_tick(txn, workflow, schedule_id)
            )
        outcomes.report()
        log = logger.bind(workflow=workflow, schedule=schedule_id)
        for run in outcomes.runs:
            log.bind(run=run.id, tick=iso(run.schedule_tick or 0)).debug("schedule started a run")
        if outcomes.missed:
            log.warning("{} tick(s) missed: older than the catch-up window when handled", outcomes.missed)
        return outcomes

    async def _fire(self, txn: Txn, scope: ChangeScope, workflow: str, schedule_id: str) -> Outcomes:
        outcomes = Outcomes()
        locked = await txn.lock_schedule(workflow, schedule_id)
        if locked is None:
            return outcomes  # another instance holds it: it is handling the tick
        row, now = locked
        if not row.active or row.paused or row.due_at is None or row.due_at > now:
            return outcomes
        spec = Schedule.from_json(row.spec)
        firing = _Firing(txn, scope, row, spec, now, outcomes)
        # Buffered ticks (a backfill) start even before the schedule's first tick is known.
        await firing.start_buffered()
        next_tick: float | None = row.next_tick
        cutoff = now - spec.catchup_window
        if next_tick is None:  # new, changed or back: starts afresh from now
            next_tick = spec.next_tick(now)
        elif next_tick < cutoff:  # older than the catch-up window: counted as missed, not run
            outcomes.missed, next_tick = _count_before(spec, next_tick, cutoff)
        handled = 0
        while next_tick is not None and spec.fire_at(next_tick) <= now and handled < TICKS_PER_PASS:
            await firing.tick(next_tick, "schedule")
            next_tick = spec.next_tick(next_tick)
            handled += 1
        due = _due(spec, next_tick)
        if firing.buffered:
            due = now + BUFFER_POLL if due is None else min(due, now + BUFFER_POLL)
        await txn.update_schedule(
            workflow,
            schedule_id,
            next_tick=next_tick,
            due_at=due,
            last_tick=firing.last_tick,
            buffered=firing.buffered,
            fired=row.fired + outcomes.started,
            missed=row.missed + outcomes.missed,
            skipped=row.skipped + outcomes.skipped,
        )
        return outcomes

    async def _give_up_tick(self, txn: Txn, workflow: str, schedule_id: str) -> Outcomes:
        outcomes = Outcomes()
        locked = await txn.lock_schedule(workflow, schedule_id)
        if locked is None:
            return outcomes
        row, now = locked
        spec = Schedule.from_json(row.spec)
        if row.buffered:  # the failing tick may be the buffered one
            await txn.update_schedule(workflow, schedule_id, buffered=row.buffered[1:], missed=row.missed + 1)
            outcomes.missed = 1
            return outcomes
        following = spec.next_tick(row.next_tick if row.next_tick is not None else now)
        await txn.update_schedule(
            workflow, schedule_id, next_tick=following, due_at=_due(spec, following), missed=row.missed + 1
        )
        outcomes.missed = 1
        return outcomes

    # -- what operators do -------------------------------------------------------------

    async def list(self, workflow: str | None = None) -> list[ScheduleView]:
        return [self._view(row) for row in await self.store.list_schedules(workflow)]

    async def get(self, workflow: str, schedule_id: str) -> ScheduleView:
        row = await self.store.get_schedule(workflow, schedule_id)
        if row is None or not row.active:
            raise ScheduleNotFound(f"no schedule {schedule_id!r} of workflow {workflow!r}")
        return self._view(row)

    async def pause(self, workflow: str, schedule_id: str) -> ScheduleView:
        """Stop firing; ticks while paused are neither run nor caught up."""
        await self._act(workflow, schedule_id, _pausing)
        return await self.get(workflow, schedule_id)

    async def resume(self, workflow: str, schedule_id: str) -> ScheduleView:
        """Fire again from the next tick after now (what passed while paused stays passed)."""

        await self._act(workflow, schedule_id, _resuming)
        self.wake()
        return await self.get(workflow, schedule_id)

    async def trigger(self, workflow: str, schedule_id: str) -> RunRecord:
        """Start a run of the schedule now (with its input; its tick is now), whatever its
        overlap policy and even when paused: an operator asked for it."""

        async def act(txn: Txn, scope: ChangeScope, row: ScheduleRow, now: float) -> _Acted[RunRecord]:
            run, _ = await _start(txn, scope, row, Schedule.from_json(row.spec), now, "schedule")
            return run, {"fired": row.fired + 1, "last_tick": now}

        run = await self._act(workflow, schedule_id, act)
        metrics.schedule_ticks("started")
        return run

    async def backfill(
        self, workflow: str, schedule_id: str, start: float, end: float, *, dry_run: bool, overlap: str
    ) -> BackfillResult:
        """The schedule's ticks in ``[start, end]``; unless ``dry_run``, start their runs:
        one after another (``buffer_all``: queued behind whatever runs), or all at once
        (``allow_all``). A tick that already has a run is left as it is (``existing``)."""
        row = await self.store.get_schedule(workflow, schedule_id)
        if row is None or not row.active:
            raise ScheduleNotFound(f"no schedule {schedule_id!r} of workflow {workflow!r}")
        spec = Schedule.from_json(row.spec)
        ticks = list(islice(takewhile(lambda tick: tick <= end, _ticks_from(spec, start)), MAX_BACKFILL + 1))
        if len(ticks) > MAX_BACKFILL:
            raise BackfillTooLarge(f"more than {MAX_BACKFILL} ticks in that range; backfill it in parts")
        if dry_run or not ticks:
            return BackfillResult(ticks)

        async def act(
            txn: Txn, scope: ChangeScope, current: ScheduleRow, now: float
        ) -> _Acted[BackfillResult]:
            started = existing = 0
            buffered = list(current.buffered)
            waiting = {entry["tick"] for entry in buffered}
            for tick in ticks:
                if await txn.find_tick_run(workflow, schedule_id, tick) is not None:
                    existing += 1
                elif overlap == "allow_all":
                    await _start(txn, scope, current, spec, tick, "backfill")
                    started += 1
                elif tick not in waiting:
                    buffered.append({"tick": tick, "trigger": "backfill"})
            added = len(buffered) - len(current.buffered)
            changes: ScheduleFields = {
                "buffered": buffered,
                "fired": current.fired + started,
                # Due now: the first buffered tick starts at once when nothing runs.
                "due_at": now if added else current.due_at,
            }
            return BackfillResult(ticks, started=started, buffered=added, existing=existing), changes

        result = await self._act(workflow, schedule_id, act)
        metrics.schedule_ticks("started", result.started)
        self.wake()
        return result

    async def _act(self, workflow: str, schedule_id: str, act: _Action[T]) -> T:
        """An operator's action on the schedule, in one change: lock it (waiting for an
        instance firing it, rather than skipping it as a firing does), let ``act`` act, then
        apply the changes it returns; its result once committed. `ScheduleNotFound` when
        there is no such active schedule."""

        async def body(txn: Txn, scope: ChangeScope) -> T:
            row, now = _active(
                await txn.lock_schedule(workflow, schedule_id, wait=True), workflow, schedule_id
            )
            result, changes = await act(txn, scope, row, now)
            await txn.update_schedule(workflow, schedule_id, **changes)
            return result

        return await self.engine.change(body)

    def _view(self, row: ScheduleRow) -> ScheduleView:
        spec = Schedule.from_json(row.spec)
        start = row.next_tick
        if start is None:
            upcoming = spec.next_ticks(time.time(), NEXT_TICKS)
        else:
            upcoming = [start, *spec.next_ticks(start, NEXT_TICKS - 1)]
        return ScheduleView(row, spec, upcoming)


class _Firing:
    """The ticks of one pass over a schedule, under its overlap policy."""

    def __init__(
        self, txn: Txn, scope: ChangeScope, row: ScheduleRow, spec: Schedule, now: float, outcomes: Outcomes
    ) -> None:
        self.txn = txn
        self.scope = scope
        self.row = row
        self.spec = spec
        self.now = now
        self.outcomes = outcomes
        self.buffered = list(row.buffered)
        self.last_tick = row.last_tick
        self._unfinished: list[RunRecord] | None = None

    async def unfinished(self) -> list[RunRecord]:
        if self._unfinished is None:
            self._unfinished = await self.txn.unfinished_schedule_runs(
                self.row.workflow_name, self.row.schedule_id
            )
        return self._unfinished

    async def start_buffered(self) -> None:
        """The oldest buffered tick starts once nothing of the schedule runs."""
        if self.buffered and not await self.unfinished():
            entry = self.buffered.pop(0)
            await self.start(entry["tick"], entry.get("trigger", "schedule"))

    async def tick(self, tick: float, trigger: str) -> None:
        overlap = self.spec.overlap
        running = await self.unfinished()
        if not running or overlap == "allow_all":
            await self.start(tick, trigger)
        elif overlap == "skip":
            self.outcomes.skipped += 1
        elif overlap == "buffer_one":
            if self.buffered:
                self.outcomes.skipped += 1
            else:
                self.buffered.append({"tick": tick, "trigger": trigger})
                self.outcomes.buffered += 1
        elif overlap == "buffer_all":
            self.buffered.append({"tick": tick, "trigger": trigger})
            self.outcomes.buffered += 1
        else:  # cancel_other
            for run in running:
                await self.cancel(run.id)
            running.clear()
            await self.start(tick, trigger)

    async def start(self, tick: float, trigger: str) -> None:
        run, created = await _start(self.txn, self.scope, self.row, self.spec, tick, trigger)
        if created:
            self.outcomes.started += 1
            self.outcomes.runs.append(run)
            self.last_tick = tick if self.last_tick is None else max(self.last_tick, tick)
            if run.status not in RUN_FINAL:
                (await self.unfinished()).append(run)

    async def cancel(self, run_id: str) -> None:
        change = await RunChange.load(self.txn, self.scope, run_id)
        try:
            await change.cancel()
            self.outcomes.cancelled += 1
        except RunStateConflict:
            pass  # finished meanwhile


async def _start(
    txn: Txn, scope: ChangeScope, row: ScheduleRow, spec: Schedule, tick: float, trigger: str
) -> tuple[RunRecord, bool]:
    return await RunChange.create(
        txn,
        scope,
        row.workflow_name,
        spec.input,
        origin=Origin(trigger=trigger, schedule_id=row.schedule_id, schedule_tick=tick),
    )


def _active(
    locked: tuple[ScheduleRow, float] | None, workflow: str, schedule_id: str
) -> tuple[ScheduleRow, float]:
    if locked is None or not locked[0].active:
        raise ScheduleNotFound(f"no schedule {schedule_id!r} of workflow {workflow!r}")
    return locked


async def _pausing(txn: Txn, scope: ChangeScope, row: ScheduleRow, now: float) -> _Acted[None]:
    return None, {"paused": True}


async def _resuming(txn: Txn, scope: ChangeScope, row: ScheduleRow, now: float) -> _Acted[None]:
    if not row.paused:
        return None, {}
    spec = Schedule.from_json(row.spec)
    following = spec.next_tick(now)
    due = _due(spec, following)
    if row.buffered:  # ticks a backfill queued while paused start now
        due = now if due is None else min(due, now)
    return None, {"paused": False, "next_tick": following, "due_at": due}


def _due(spec: Schedule, tick: float | None) -> float | None:
    return None if tick is None else spec.fire_at(tick)


def _count_before(spec: Schedule, first: float, cutoff: float) -> tuple[int, float | None]:
    """How many ticks from ``first`` (included) come before ``cutoff``, and the first tick
    at or after it. Counting stops at `MAX_COUNTED` (a cron schedule down for a year):
    the rest are counted in bulk as unknown, and the schedule jumps to the cutoff."""
    if spec.every is not None:  # arithmetic, however long the outage
        _, count = spec.ticks_between(first - spec.every / 2, math.nextafter(cutoff, -math.inf), 0)
        return count, spec.next_tick(math.nextafter(cutoff, -math.inf))
    count = 0
    tick: float | None = first
    while tick is not None and tick < cutoff:
        count += 1
        if count >= MAX_COUNTED:
            return count, spec.next_tick(math.nextafter(cutoff, -math.inf))
        tick = spec.next_tick(tick)
    return count, tick


def _ticks_from(spec: Schedule, start: float) -> Iterator[float]:
    """The ticks at or after ``start``."""
    return spec.ticks_after(math.nextafter(start, -math.inf))

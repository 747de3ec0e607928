"""The claim loop and the registry of in-flight work that a drain waits on.

The loop claims as many items as it has free slots in one call (a batch claim, one round
trip), starts one task per item, and then sleeps until something can change the answer:
`wake()` (new work was queued in this process), a slot freeing up, or `poll_interval`
passing (work queued elsewhere, timers falling due). It never spins.

Drain, in three steps: stop claiming; wait for in-flight work up to the stop timeout (or
until an abort is requested); cancel what is left and hand it back to the source, so that
another instance, or the next start, runs it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from loguru import logger

from executor.cancel import wait_event
from executor.errors import ExecutorError, StoreError

W = TypeVar("W")


class WorkSource(Protocol[W]):
    """Where the loop's work comes from, and what running one item means."""

    async def claim(self, limit: int) -> Sequence[W]:
        """Claim at most ``limit`` ready items (fewer, or none, when fewer are ready)."""
        ...

    async def run(self, item: W) -> None:
        """Run one claimed item to its recorded outcome."""
        ...

    async def hand_back(self, items: Sequence[W], *, started: bool) -> None:
        """Return claimed items to be claimed again: cut short by a drain (``started``), or
        claimed as the drain began and never started."""
        ...

    async def next_due(self) -> float | None:
        """When (Unix time) the next item not ready yet becomes ready, if known."""
        ...


class ClaimLoop(Generic[W]):
    def __init__(self, source: WorkSource[W], *, concurrency: int, poll_interval: float) -> None:
        self.source = source
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self._inflight: dict[asyncio.Task[None], W] = {}
        self._wake = asyncio.Event()
        self._claiming = True
        self._reserved = 0  # slots a claim in progress may fill
        self._running = False
        # True when the last claim found less than it could take: a freed slot then waits
        # for a wake-up or the poll rather than asking again at once.
        self._exhausted = False
        self.claims = 0  # claim round trips made so far

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def claiming(self) -> bool:
        """Running and not draining: new work may start."""
        return self._claiming and self._running

    def free_slots(self) -> int:
        """Slots neither running an item nor promised to a claim in progress (0 once draining)."""
        if not (self._claiming and self._running):
            return 0
        return max(0, self.concurrency - len(self._inflight) - self._reserved)

    def reserve(self, count: int) -> None:
        """Promise ``count`` slots to a claim made on the loop's behalf (the writer's), until
        `adopt` or `unreserve`: meanwhile the loop's own claims do not count them free."""
        self._reserved += count

    def unreserve(self, count: int) -> None:
        self._reserved -= count

    def adopt(self, items: Sequence[W], *, exhausted: bool, reserved: int = 0) -> None:
        """Start items claimed on the loop's behalf (for the ``reserved`` slots, given back
        now); ``exhausted``: that claim found fewer items than it could take."""
        self._exhausted = exhausted
        for item in items:
            self._start(item)
        self._reserved -= reserved

    def wake(self) -> None:
        """Claim now rather than at the next poll (work was just queued)."""
        self._exhausted = False
        self._wake.set()

    async def run(self) -> None:
        """Claim and start work until `drain` is called."""
        self._running = True
        try:
            await self._run()
        finally:
            self._running = False

    async def _run(self) -> None:
        while self._claiming:
            self._wake.clear()
            free = self.free_slots()
            if free > 0:
                self._reserved += free
                try:
                    items = await self.source.claim(free)
                except ExecutorError as exc:
                    logger.warning("claiming work failed, retrying in {}s: {}", self.poll_interval, exc)
                    items = ()
                finally:
                    self._reserved -= free
                self.claims += 1
                if not self._claiming:
                    # drain began while we were claiming: do not start what we just got
                    if items:
                        await self.source.hand_back(items, started=False)
                    break
                for item in items:
                    self._start(item)
                self._exhausted = len(items) < free
                if not self._exhausted:
                    continue  # there may be more ready: claim again as soon as a slot frees up
            # With every slot busy a timer falling due changes nothing: wait for a slot.
            timeout = await self._until_next() if self.free_slots() else self.poll_interval
            await wait_event(self._wake, timeout)

    async def _until_next(self) -> float:
        """Sleep until the next timer falls due, but never longer than the poll interval."""
        try:
            due = await self.source.next_due()
        except ExecutorError:
            return self.poll_interval
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.0, due - time.time()) + 0.001)

    def _start(self, item: W) -> None:
        task = asyncio.create_task(self._run_one(item))
        self._inflight[task] = item
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        if not self._exhausted:
            self._wake.set()  # a slot is free and there may be work for it

    async def _run_one(self, item: W) -> None:
        try:
            await self.source.run(item)
        except asyncio.CancelledError:
            raise
        except StoreError as exc:
            # The database went away mid-attempt; its lease runs out and it runs again.
            logger.bind(item=item).warning("a claimed item stopped, the database failed: {}", exc)
        except Exception:
            # One item's failure must never take the loop or the service down.
            logger.bind(item=item).exception("running a claimed item failed")

    async def drain(self, timeout: float, abort: asyncio.Event | None = None) -> int:
        """Stop claiming, wait for in-flight work, cancel and hand back the rest.

        Returns how many items were handed back. ``abort`` cuts the wait short.
        """
        self._claiming = False
        self._wake.set()
        pending = set(self._inflight)
        if pending:
            logger.info("waiting up to {}s for {} in-flight item(s)", timeout, len(pending))
            waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(asyncio.wait(pending))}
            if abort is not None:
                waiters.add(asyncio.ensure_future(abort.wait()))
            _, not_done = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for waiter in not_done:
                waiter.cancel()
        left = {task: item for task, item in self._inflight.items() if not task.done()}
        if not left:
            return 0
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        items = list(left.values())
        # Shielded: a second cancellation (service torn down) must not lose the hand-back.
        await asyncio.shield(self.source.hand_back(items, started=True))
        logger.info("handed back {} unfinished item(s)", len(items))
        return len(items)

"""The claim loop on an in-memory work source: batching, wake-ups, drain and hand-back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from executor.engine import ClaimLoop
from tests.support.waiting import async_wait_until


class Queue:
    """A work source whose items finish when the test says so."""

    def __init__(self, items: int = 0) -> None:
        self.ready = list(range(items))
        self.claim_sizes: list[int] = []
        self.started: list[int] = []
        self.finished: list[int] = []
        self.handed_back: list[int] = []
        self.release: dict[int, asyncio.Event] = {}

    def add(self, *items: int) -> None:
        self.ready.extend(items)

    async def claim(self, limit: int) -> Sequence[int]:
        self.claim_sizes.append(limit)
        batch, self.ready = self.ready[:limit], self.ready[limit:]
        return batch

    async def run(self, item: int) -> None:
        self.started.append(item)
        self.release[item] = event = asyncio.Event()
        await event.wait()
        self.finished.append(item)

    async def next_due(self) -> float | None:
        return None

    async def hand_back(self, items: Sequence[int], *, started: bool) -> None:
        self.handed_back.extend(items)
        self.ready.extend(items)

    def finish(self, *items: int) -> None:
        for item in items:
            self.release[item].set()


async def test_claims_as_many_as_there_are_free_slots_in_one_call() -> None:
    queue = Queue(items=10)
    loop = ClaimLoop(queue, concurrency=4, poll_interval=3600)
    task = asyncio.create_task(loop.run())
    await async_wait_until(lambda: len(queue.started) == 4)
    assert queue.claim_sizes == [4]
    queue.finish(0, 1)
    await async_wait_until(lambda: len(queue.started) == 6)
    assert loop.in_flight == 4
    assert queue.claim_sizes[-1] == 2
    await loop.drain(timeout=0)
    await task


async def test_sleeps_until_woken_instead_of_polling() -> None:
    queue = Queue()
    loop = ClaimLoop(queue, concurrency=2, poll_interval=3600)
    task = asyncio.create_task(loop.run())
    await async_wait_until(lambda: loop.claims == 1)
    for _ in range(20):
        await asyncio.sleep(0)
    assert loop.claims == 1, "an idle loop must not claim again before a wake-up or the poll interval"
    queue.add(7)
    loop.wake()
    await async_wait_until(lambda: queue.started == [7])
    queue.finish(7)
    await loop.drain(timeout=1)
    await task


async def test_polls_when_nobody_wakes_it() -> None:
    queue = Queue()
    loop = ClaimLoop(queue, concurrency=2, poll_interval=0.05)
    task = asyncio.create_task(loop.run())
    await async_wait_until(lambda: loop.claims == 1)
    queue.add(3)
    await async_wait_until(lambda: queue.started == [3], timeout=5)
    await loop.drain(timeout=0)
    await task


async def test_drain_waits_for_work_that_finishes_in_time() -> None:
    queue = Queue(items=2)
    loop = ClaimLoop(queue, concurrency=2, poll_interval=3600)
    task = asyncio.create_task(loop.run())
    await async_wait_until(lambda: len(queue.started) == 2)
    drain = asyncio.create_task(loop.drain(timeout=30))
    await asyncio.sleep(0)
    queue.finish(0, 1)
    assert await asyncio.wait_for(drain, 5) == 0
    assert sorted(queue.finished) == [0, 1] and queue.handed_back == []
    await task


async def test_drain_cancels_and_hands_back_what_outlives_the_timeout() -> None:
    queue = Queue(items=3)
    loop = ClaimLoop(queue, concurrency=3, poll_interval=3600)
    task = asyncio.create_task(loop.run())
    await async_wait_until(lambda: len(queue.started) == 3)
    queue.finish(1)
    await async_wait_until(lambda: queue.finished == [1])
    assert await loop.drain(timeout=0.05) == 2
    assert sorted(queue.handed_back) == [0, 2]
    assert loop.in_flight == 0
    await task


async def test_abort_cuts_the_drain_short() -> None:
    queue = Queue(items=1)
    loop = ClaimLoop(queue, concurrency=1, poll_interval=3600)
    task = asyncio.create_task(loop.run())
    await async_wait_until(lambda: queue.started == [0])
    abort = asyncio.Event()
    drain = asyncio.create_task(loop.drain(timeout=3600, abort=abort))
    await asyncio.sleep(0)
    abort.set()
    assert await asyncio.wait_for(drain, 5) == 1
    assert queue.handed_back == [0]
    await task


async def test_no_claims_after_drain() -> None:
    queue = Queue()
    loop = ClaimLoop(queue, concurrency=1, poll_interval=3600)
    task = asyncio.create_task(loop.run())
    await async_wait_until(lambda: loop.claims == 1)
    await loop.drain(timeout=0)
    await asyncio.wait_for(task, 1)
    queue.add(1)
    loop.wake()
    await asyncio.sleep(0)
    assert queue.started == [] and loop.claims == 1


async def test_a_failing_item_does_not_stop_the_loop() -> None:
    class Failing(Queue):
        async def run(self, item: int) -> None:
            self.started.append(item)
            if item == 0:
                raise RuntimeError("boom")

    queue = Failing(items=2)
    loop = ClaimLoop(queue, concurrency=1, poll_interval=3600)
    task = asyncio.create_task(loop.run())
    await async_wait_until(lambda: queue.started == [0, 1])
    await loop.drain(timeout=1)
    await task


async def test_slots_reserved_for_a_claim_made_elsewhere_are_not_free_until_adopted() -> None:
    queue = Queue()
    loop = ClaimLoop(queue, concurrency=2, poll_interval=0.05)
    running = asyncio.create_task(loop.run())
    await async_wait_until(lambda: loop.free_slots() == 2, what="the loop running")
    loop.reserve(2)  # the writer claims for both slots in its transaction
    assert loop.free_slots() == 0
    loop.adopt([7], exhausted=True, reserved=2)  # it found one
    assert (loop.in_flight, loop.free_slots()) == (1, 1)
    loop.reserve(1)
    loop.unreserve(1)  # a claim rolled back gives its slot back
    assert loop.free_slots() == 1
    await async_wait_until(lambda: 7 in queue.release, what="the adopted item to start")
    queue.release[7].set()
    await async_wait_until(lambda: loop.free_slots() == 2, what="the adopted item to finish")
    await loop.drain(1)
    await running

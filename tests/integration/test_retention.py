"""The retention loop on a real database of each backend: it deletes by each workflow's
retention, one instance of a fleet at a time, stops at once when cancelled, and carries on
after a store error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from loguru import logger

from executor.retention import CHORE, Pacing, Retention
from executor.statuses import RunStatus
from executor.store import Store, create_store
from executor.store.records import NewStep
from executor.store.url import DatabaseURL
from tests.contract.helpers import FakeClock, new_run, set_run
from tests.support.databases import POOL_SIZE
from tests.support.waiting import async_wait_until

DAY = 86400.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(database_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    async with create_store(DatabaseURL.parse(database_url), clock=clock, pool_size=POOL_SIZE) as opened:
        yield opened


async def register(store: Store, name: str, retention: float | None = None) -> None:
    definition: dict[str, Any] = {"name": name, "steps": []}
    if retention is not None:
        definition["retention"] = retention
    await store.register_workflow(name, f"digest-{name}", f"name: {name}", definition)


async def finished(store: Store, clock: FakeClock, name: str, ago: float) -> str:
    run_id = await new_run(store, [NewStep("a"), NewStep("b")], name=name)
    await set_run(store, run_id, status=RunStatus.SUCCEEDED, finished_at=clock() - ago)
    return run_id


async def alive(store: Store, run_ids: list[str]) -> list[bool]:
    return [await store.get_run(run_id) is not None for run_id in run_ids]


async def test_the_loop_deletes_by_each_workflows_retention(store: Store, clock: FakeClock) -> None:
    await register(store, "default")  # --retention: 7 days here
    await register(store, "short", retention=3600)
    await register(store, "forever", retention=0)
    gone = [await finished(store, clock, "default", 8 * DAY), await finished(store, clock, "short", 2 * 3600)]
    kept = [
        await finished(store, clock, "default", 6 * DAY),
        await finished(store, clock, "short", 1800),
        await finished(store, clock, "forever", 400 * DAY),
    ]

    loop = asyncio.create_task(Retention(store, owner="me", default=7 * DAY).run())
    try:
        await async_wait_until(lambda: _none_alive(store, gone), timeout=10, what="old runs deleted")
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert await alive(store, kept) == [True] * 3


async def _none_alive(store: Store, run_ids: list[str]) -> bool:
    return not any(await alive(store, run_ids))


async def test_with_no_retention_anywhere_nothing_goes(store: Store, clock: FakeClock) -> None:
    await register(store, "w")
    old = await finished(store, clock, "w", 400 * DAY)

    assert await Retention(store, owner="me", default=0).once() == 0
    assert await alive(store, [old]) == [True]


async def test_one_instance_of_a_fleet_does_a_pass(store: Store, database_url: str, clock: FakeClock) -> None:
    await register(store, "w")
    old = [await finished(store, clock, "w", 8 * DAY) for _ in range(3)]
    async with create_store(DatabaseURL.parse(database_url), clock=clock, pool_size=POOL_SIZE) as other:
        first = Retention(store, owner="a", default=DAY, interval=300)
        second = Retention(other, owner="b", default=DAY, interval=300)

        done = await asyncio.gather(first.once(), second.once())

        assert sorted(done, key=str) == [3, None]
        assert await alive(store, old) == [False] * 3
        clock.advance(301)  # an interval later, either may do the next
        assert await second.once() == 0


async def test_a_pass_holding_the_chore_keeps_others_out_until_its_lease_ends(
    store: Store, clock: FakeClock
) -> None:
    assert await store.take_chore(CHORE, "dead", lease=60, every=300)  # then it died
    assert await Retention(store, owner="me", default=DAY).once() is None
    clock.advance(61)
    assert await Retention(store, owner="me", default=DAY).once() == 0


async def test_a_cancelled_pass_stops_at_once_and_keeps_what_it_did(store: Store, clock: FakeClock) -> None:
    await register(store, "w")
    for _ in range(40):
        await finished(store, clock, "w", 8 * DAY)
    # Tiny pages, long pauses: the pass is far from done when it is cancelled.
    retention = Retention(store, owner="me", default=DAY, pacing=Pacing(target=1.0, ratio=0.0, size=5))
    pausing = Pacing.after

    def slow(pacing: Pacing, seconds: float) -> float:
        pausing(pacing, seconds)
        pacing.size = 5
        return 30.0

    retention.pacing.after = slow.__get__(retention.pacing)  # type: ignore[method-assign]
    loop = asyncio.create_task(retention.run())
    await async_wait_until(lambda: _count(store, 35), timeout=10, what="the first page")

    loop.cancel()
    await asyncio.wait_for(asyncio.gather(loop, return_exceptions=True), timeout=1.0)
    assert len(await store.list_runs(limit=100)) == 35


async def _count(store: Store, count: int) -> bool:
    return len(await store.list_runs(limit=100)) == count


async def test_a_store_error_is_logged_and_the_loop_goes_on(database_url: str, clock: FakeClock) -> None:
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING", format="{message}")
    store = create_store(DatabaseURL.parse(database_url), clock=clock, pool_size=POOL_SIZE)
    loop = asyncio.create_task(Retention(store, owner="me", default=DAY).run())  # the store is not open
    try:
        await async_wait_until(lambda: warnings, timeout=10, what="a warning")
        assert warnings[0].startswith("retention: ") and "trying again in" in warnings[0]
        assert not loop.done()
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        logger.remove(sink)
        await store.close()

"""Retention: `purge_runs` deletes old finished runs page by page with everything that hangs
off them, never an unfinished run nor a child of one; the chores' leases are exclusive."""

from __future__ import annotations

import asyncio
from typing import Any

from executor.statuses import RunStatus, StepStatus
from executor.store import Store
from executor.store.base import PurgeCursor
from executor.store.records import LogLine, NewStep
from tests.contract.helpers import FakeClock, OpenStore, new_run, run_of, set_run

DAY = 86400.0


async def finished_run(
    store: Store,
    clock: FakeClock,
    *,
    ago: float,
    status: RunStatus = RunStatus.SUCCEEDED,
    name: str = "w",
    parent: str | None = None,
) -> str:
    """A run with two steps, a log line and a signal, that finished ``ago`` seconds ago."""
    run_id = await unfinished_run(store, name=name, parent=parent)
    await set_run(store, run_id, status=status, finished_at=clock() - ago)
    return run_id


async def unfinished_run(
    store: Store, *, name: str = "w", parent: str | None = None, status: RunStatus = RunStatus.RUNNING
) -> str:
    parent_step = None
    if parent is not None:
        parent_step = next(iter((await run_of(store, parent))[1].values())).id
    run_id = await new_run(
        store,
        [NewStep("a", status=StepStatus.SUCCEEDED), NewStep("b", status=StepStatus.WAITING)],
        name=name,
        parent=(parent, parent_step) if parent and parent_step else None,
    )
    rows = (await run_of(store, run_id))[1]
    await store.append_logs([LogLine(rows["a"].id, 1, "stdout", "hello", 0.0)])
    async with store.transaction() as txn:
        await txn.insert_signal(run_id, "go", {"n": 1})
        await txn.take_signal(run_id, "go", rows["b"].id)  # consumed by one of its steps
        await txn.insert_signal(run_id, "later", None)
    await set_run(store, run_id, status=status)
    return run_id


async def purge_all(store: Store, older_than: float, limit: int = 100, **filters: Any) -> int:
    """Every page, as `executor.retention` walks them; how many runs went."""
    total, after = 0, None
    while True:
        batch = await store.purge_runs(older_than, after=after, limit=limit, **filters)
        if batch.cursor is None:
            return total
        total, after = total + batch.deleted, batch.cursor


async def exists(store: Store, run_id: str) -> bool:
    return await store.get_run(run_id) is not None


async def test_old_finished_runs_go_with_their_steps_logs_and_signals(store: Store, clock: FakeClock) -> None:
    old = [await finished_run(store, clock, ago=8 * DAY, status=s) for s in RunStatus if s.value in FINAL]
    young = await finished_run(store, clock, ago=6 * DAY)
    step_ids = [row.id for run_id in old for row in (await run_of(store, run_id))[1].values()]

    assert await purge_all(store, 7 * DAY) == 3

    assert [await exists(store, run_id) for run_id in old] == [False] * 3
    assert await exists(store, young)
    assert [await store.read_logs(step) for step in step_ids] == [[]] * len(step_ids)
    async with store.transaction() as txn:
        assert [await txn.get_step(step) for step in step_ids] == [None] * len(step_ids)
        # Signals went too: a signal of a deleted run can never be taken.
        assert await txn.take_signal(old[0], "later", step_ids[0]) == (False, None)
    assert len((await run_of(store, young))[1]) == 2


FINAL = {"succeeded", "failed", "cancelled"}


async def test_unfinished_runs_are_never_deleted_however_old(store: Store, clock: FakeClock) -> None:
    unfinished = [await unfinished_run(store, status=s) for s in (RunStatus.PENDING, RunStatus.PAUSED)]
    unfinished.append(await unfinished_run(store))
    clock.advance(365 * DAY)

    assert await purge_all(store, 0.0) == 0
    assert [await exists(store, run_id) for run_id in unfinished] == [True] * 3


async def test_a_run_retried_is_no_longer_finished_and_stays(store: Store, clock: FakeClock) -> None:
    run_id = await finished_run(store, clock, ago=8 * DAY, status=RunStatus.FAILED)
    await set_run(store, run_id, status=RunStatus.RUNNING, finished_at=None)

    assert await purge_all(store, DAY) == 0
    assert await exists(store, run_id)


async def test_children_of_an_unfinished_parent_stay(store: Store, clock: FakeClock) -> None:
    parent = await unfinished_run(store)
    child = await finished_run(store, clock, ago=8 * DAY, parent=parent)

    assert await purge_all(store, DAY) == 0
    assert await exists(store, child)

    await set_run(store, parent, status=RunStatus.SUCCEEDED, finished_at=clock() - 2 * DAY)
    assert await purge_all(store, DAY) == 2  # the child first, then its parent, in one page
    assert not await exists(store, parent) and not await exists(store, child)


async def test_a_parent_stays_while_a_child_run_is_kept(store: Store, clock: FakeClock) -> None:
    parent = await finished_run(store, clock, ago=8 * DAY)
    young_child = await finished_run(store, clock, ago=DAY, parent=parent)
    grandchild = await finished_run(store, clock, ago=9 * DAY, parent=young_child)

    assert await purge_all(store, 7 * DAY) == 1  # the grandchild: its parent is finished
    assert await exists(store, parent) and await exists(store, young_child)
    assert not await exists(store, grandchild)

    clock.advance(7 * DAY)
    assert await purge_all(store, 7 * DAY) == 2


async def test_a_nested_tree_goes_in_one_page_children_first(store: Store, clock: FakeClock) -> None:
    # Finished in the order the engine finishes them: the deepest first.
    root = await unfinished_run(store)
    middle = await unfinished_run(store, parent=root)
    leaf = await finished_run(store, clock, ago=9 * DAY, parent=middle)
    await set_run(store, middle, status=RunStatus.SUCCEEDED, finished_at=clock() - 8.5 * DAY)
    await set_run(store, root, status=RunStatus.SUCCEEDED, finished_at=clock() - 8 * DAY)

    batch = await store.purge_runs(DAY, limit=10)
    assert batch.deleted == 3
    assert [await exists(store, run_id) for run_id in (root, middle, leaf)] == [False] * 3


async def test_pages_take_at_most_limit_runs_oldest_first_and_end_with_no_cursor(
    store: Store, clock: FakeClock
) -> None:
    runs = [await finished_run(store, clock, ago=(20 - n) * DAY) for n in range(5)]

    first = await store.purge_runs(DAY, limit=2)
    assert first.deleted == 2 and first.cursor is not None
    assert [await exists(store, r) for r in runs] == [False, False, True, True, True]
    second = await store.purge_runs(DAY, limit=2, after=first.cursor)
    third = await store.purge_runs(DAY, limit=2, after=second.cursor)
    assert (second.deleted, third.deleted) == (2, 1)
    assert await store.purge_runs(DAY, limit=2, after=third.cursor) == (0, None)
    assert await store.purge_runs(DAY, limit=2) == (0, None)


async def test_a_page_counts_the_runs_it_looks_at_not_those_it_deletes(
    store: Store, clock: FakeClock
) -> None:
    runs = [
        await finished_run(
            store, clock, ago=(20 - n) * DAY, status=RunStatus.SUCCEEDED if n % 2 else RunStatus.FAILED
        )
        for n in range(6)
    ]
    pages: list[tuple[int, PurgeCursor | None]] = []
    after = None
    while True:
        batch = await store.purge_runs(DAY, limit=2, status=RunStatus.FAILED, after=after)
        pages.append(batch)
        if batch.cursor is None:
            break
        after = batch.cursor
    assert [deleted for deleted, _ in pages] == [1, 1, 1, 0]
    assert [await exists(store, r) for r in runs] == [False, True] * 3


async def test_the_workflow_filter_reads_and_deletes_one_workflows_runs(
    store: Store, clock: FakeClock
) -> None:
    in_w = await finished_run(store, clock, ago=8 * DAY, name="w")
    in_v = await finished_run(store, clock, ago=8 * DAY, name="v")

    assert await purge_all(store, DAY, workflow="v") == 1
    assert await exists(store, in_w) and not await exists(store, in_v)
    assert await purge_all(store, DAY, workflow="absent") == 0


async def test_a_dry_run_counts_what_would_go_and_deletes_nothing(store: Store, clock: FakeClock) -> None:
    parent = await finished_run(store, clock, ago=8 * DAY)
    await finished_run(store, clock, ago=9 * DAY, parent=parent)
    held = await finished_run(store, clock, ago=8 * DAY)
    await finished_run(store, clock, ago=DAY, parent=held)  # keeps its parent
    await finished_run(store, clock, ago=8 * DAY, status=RunStatus.FAILED)
    await unfinished_run(store)
    before = len(await store.list_runs())

    assert await purge_all(store, 7 * DAY, dry_run=True) == 3  # the parent, its child, the failed
    assert await purge_all(store, 7 * DAY, dry_run=True, status=RunStatus.FAILED) == 1
    assert await purge_all(store, 7 * DAY, dry_run=True, workflow="w", limit=1) == 3
    assert await purge_all(store, 7 * DAY, dry_run=True, workflow="v") == 0
    assert len(await store.list_runs()) == before

    assert await purge_all(store, 7 * DAY) == 3


async def test_a_chore_is_held_by_one_owner_at_a_time(
    store: Store, open_store: OpenStore, clock: FakeClock
) -> None:
    async with open_store() as other:
        taken = await asyncio.gather(
            store.take_chore("c", "a", lease=60, every=300), other.take_chore("c", "b", lease=60, every=300)
        )
        assert sorted(taken) == [False, True]
        holder, waiter = ("a", "b") if taken[0] else ("b", "a")
        assert await store.take_chore("c", holder, lease=60, every=300), "the holder renews it"
        assert not await other.take_chore("c", waiter, lease=60, every=300)

        clock.advance(61)  # the holder's lease ran out (it died)
        assert await other.take_chore("c", waiter, lease=60, every=300)
        assert not await store.take_chore("c", holder, lease=60, every=300)

        await other.finish_chore("c", holder, done=True)  # not its holder: nothing happens
        assert not await store.take_chore("c", holder, lease=60, every=300)
        await other.finish_chore("c", waiter, done=True)
        assert not await store.take_chore("c", holder, lease=60, every=300), "done within `every`"
        clock.advance(300)
        assert await store.take_chore("c", holder, lease=60, every=300)
        await store.finish_chore("c", holder, done=False)  # given up, not done: free at once
        assert await other.take_chore("c", waiter, lease=60, every=300)
        assert await store.take_chore("other", holder, lease=60, every=300), "chores are independent"


async def test_reclaiming_space_ends(store: Store, clock: FakeClock) -> None:
    for _ in range(20):
        await finished_run(store, clock, ago=8 * DAY)
    await purge_all(store, DAY)

    for _ in range(1000):
        if await store.reclaim_space() == 0:
            break
    assert await store.reclaim_space() == 0

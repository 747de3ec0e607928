"""Runs: creation (idempotency keys), reads inside and outside transactions, listing,
filtering, counting and paging, updates, children."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from executor.statuses import RunStatus, StepStatus
from executor.store import Store
from executor.store.base import DuplicateRun
from executor.store.records import NewRun, NewStep, RunChanges, RunFilter, StepRow
from tests.contract.helpers import FakeClock, claim, new_run, run_of, set_run, workflow


async def test_insert_run_creates_a_pending_run_created_now(store: Store, clock: FakeClock) -> None:
    version = await workflow(store)
    parent = await new_run(store, [NewStep("child")])
    [parent_step] = (await run_of(store, parent))[1].values()
    new = NewRun(
        id=str(uuid.uuid4()),
        workflow_name="w",
        workflow_version=version,
        input={"a": [1, "x", None]},
        idempotency_key="k",
        priority=7,
        parent_run_id=parent,
        parent_step=parent_step.id,
        deadline_at=clock() + 60,
    )
    async with store.transaction() as txn:
        inserted = await txn.insert_run(new)
    assert (inserted.id, inserted.status, inserted.outputs, inserted.error) == (new.id, "pending", None, None)
    assert inserted.input == {"a": [1, "x", None]}
    assert (inserted.idempotency_key, inserted.priority) == ("k", 7)
    assert (inserted.parent_run_id, inserted.parent_step) == (parent, parent_step.id)
    assert (inserted.deadline_at, inserted.created_at) == (clock() + 60, clock())
    assert (inserted.started_at, inserted.finished_at) == (None, None)
    assert (await run_of(store, new.id))[0] == inserted


async def test_a_taken_idempotency_key_raises_duplicate_run_and_the_transaction_stays_usable(
    store: Store,
) -> None:
    first = await new_run(store, key="once")
    earlier, duplicate, later = (str(uuid.uuid4()) for _ in range(3))
    async with store.transaction() as txn:
        await txn.insert_run(NewRun(id=earlier, workflow_name="w", workflow_version=1, input={}))
        with pytest.raises(DuplicateRun):
            await txn.insert_run(
                NewRun(id=duplicate, workflow_name="w", workflow_version=1, input={}, idempotency_key="once")
            )
        found = await txn.find_run("w", "once")
        assert found is not None and found.id == first
        await txn.insert_run(NewRun(id=later, workflow_name="w", workflow_version=1, input={}))
        await txn.insert_steps(later, [NewStep("a")])
    assert await store.get_run(duplicate) is None
    assert await store.get_run(earlier) is not None, "what came before is kept"
    assert list((await run_of(store, later))[1]) == ["a"]


async def test_an_idempotency_key_is_per_workflow(store: Store) -> None:
    in_w = await new_run(store, key="k")
    in_v = await new_run(store, name="v", key="k")
    assert in_w != in_v
    async with store.transaction() as txn:
        found_w, found_v = await txn.find_run("w", "k"), await txn.find_run("v", "k")
    assert found_w is not None and found_w.id == in_w
    assert found_v is not None and found_v.id == in_v


async def test_runs_without_a_key_never_collide(store: Store) -> None:
    ids = {await new_run(store) for _ in range(3)}
    assert len(await store.list_runs()) == len(ids) == 3


async def test_find_run_finds_the_run_of_a_workflow_and_key_or_none(store: Store) -> None:
    run_id = await new_run(store, key="k")
    async with store.transaction() as txn:
        found = await txn.find_run("w", "k")
        assert found is not None and found.id == run_id and found.idempotency_key == "k"
        assert await txn.find_run("w", "other") is None
        assert await txn.find_run("v", "k") is None


async def test_get_run_reads_the_run_and_all_its_rows_ordered_by_id_or_none(store: Store) -> None:
    run_id = await new_run(store, [NewStep("z"), NewStep("a"), NewStep("a", item_index=0)])
    found = await store.get_run(run_id)
    assert found is not None
    run, rows = found
    assert run.id == run_id and [(r.step_id, r.item_index) for r in rows] == [("z", -1), ("a", -1), ("a", 0)]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert await store.get_run(str(uuid.uuid4())) is None
    assert await store.get_run("not-a-run-id") is None


async def test_lock_run_reads_the_run_or_none(store: Store) -> None:
    run_id = await new_run(store)
    async with store.transaction() as txn:
        locked = await txn.lock_run(run_id)
        assert locked is not None and locked == (await run_of(store, run_id))[0]
        assert await txn.lock_run(str(uuid.uuid4())) is None
        assert await txn.lock_run("not-a-run-id") is None


async def test_list_runs_newest_first_by_creation_time_then_id(store: Store, clock: FakeClock) -> None:
    old = await new_run(store)
    clock.advance(1)
    together = [await new_run(store) for _ in range(4)]  # created at the same instant
    clock.advance(1)
    new = await new_run(store)
    assert [r.id for r in await store.list_runs()] == [new, *sorted(together, reverse=True), old]
    assert [r.id for r in await store.list_runs(limit=2)] == [new, max(together)]


async def test_list_runs_filters_by_workflow_and_status(store: Store, clock: FakeClock) -> None:
    runs = {}
    for name, status in (("w", "pending"), ("v", "pending"), ("w", "running"), ("v", "succeeded")):
        clock.advance(1)
        runs[name, status] = await new_run(store, name=name)
        if status != "pending":
            await set_run(store, runs[name, status], status=RunStatus(status))

    async def listed(workflow: str | None = None, status: str | None = None) -> list[str]:
        wanted = RunStatus(status) if status is not None else None
        return [r.id for r in await store.list_runs(RunFilter(workflow=workflow, status=wanted))]

    assert await listed(workflow="w") == [runs["w", "running"], runs["w", "pending"]]
    assert await listed(status="pending") == [runs["v", "pending"], runs["w", "pending"]]
    assert await listed(workflow="v", status="succeeded") == [runs["v", "succeeded"]]
    assert await listed(workflow="v", status="running") == []
    assert await listed(workflow="nope") == []


async def test_paging_with_the_last_run_as_cursor_is_stable_under_concurrent_inserts(
    store: Store, clock: FakeClock
) -> None:
    created = []
    for i in range(7):
        if i % 3 == 0:
            clock.advance(1)  # some share a creation time: the id breaks the tie
        created.append(await new_run(store, name="w" if i % 2 else "v"))
    expected = sorted(created, key=lambda r: (created.index(r) // 3, r), reverse=True)
    pages, before = [], None
    while True:
        page = await store.list_runs(before=before, limit=3)
        if not page:
            break
        pages.append([r.id for r in page])
        before = (page[-1].created_at, page[-1].id)
        clock.advance(1)
        await new_run(store)  # a run created meanwhile is newer than every page read
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r for p in pages for r in p] == expected
    # The cursor combines with the filters.
    vs = [r for r in expected if r in created[::2]]
    first = await store.list_runs(RunFilter(workflow="v"), limit=2)
    rest = await store.list_runs(RunFilter(workflow="v"), before=(first[-1].created_at, first[-1].id))
    assert [r.id for r in first + rest] == vs


async def test_update_run_sets_its_columns_and_refuses_others(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store)
    changes: RunChanges = {
        "status": RunStatus.FAILED,
        "outputs": {"o": [1, 2]},
        "error": "boom",
        "started_at": clock() + 1,
        "finished_at": clock() + 2.5,
        "deadline_at": clock() + 3,
    }
    await set_run(store, run_id, **changes)
    run = (await run_of(store, run_id))[0]
    assert {c: getattr(run, c) for c in changes} == changes
    await set_run(
        store, run_id, status=RunStatus.RUNNING, error=None, outputs=None, finished_at=None, deadline_at=None
    )
    run = (await run_of(store, run_id))[0]
    assert (run.status, run.error, run.outputs, run.finished_at, run.deadline_at) == (
        "running",
        None,
        None,
        None,
        None,
    )
    with pytest.raises(ValueError, match="priority"):
        # Not a column update_run sets, on purpose (so not a keyword to the type checker either).
        await set_run(store, run_id, priority=9)  # type: ignore[call-arg]


async def test_child_runs_are_the_runs_started_by_steps_of_the_run(store: Store, clock: FakeClock) -> None:
    parent = await new_run(store, [NewStep("spawn")])
    [spawn] = (await run_of(store, parent))[1].values()
    children = []
    for _ in range(2):
        clock.advance(1)
        children.append(await new_run(store, parent=(parent, spawn.id)))
    await new_run(store)  # an unrelated run
    async with store.transaction() as txn:
        assert [r.id for r in await txn.child_runs(parent)] == children
        assert all(r.parent_step == spawn.id for r in await txn.child_runs(parent))
        assert await txn.child_runs(children[0]) == []


async def started(
    store: Store,
    *,
    name: str = "w",
    trigger: str = "api",
    status: RunStatus = RunStatus.PENDING,
    parent: str | None = None,
) -> str:
    """A run started by ``trigger`` (a child of ``parent``), in ``status``; returns its id."""
    version = await workflow(store, name)
    run_id = str(uuid.uuid4())
    async with store.transaction() as txn:
        await txn.insert_run(
            NewRun(
                id=run_id,
                workflow_name=name,
                workflow_version=version,
                input={},
                trigger=trigger,
                parent_run_id=parent,
            )
        )
        if status != RunStatus.PENDING:
            await txn.update_run(run_id, status=status)
    return run_id


async def ids(store: Store, wanted: RunFilter, limit: int = 50) -> list[str]:
    """The ids ``wanted`` lists; its count must agree."""
    listed = [r.id for r in await store.list_runs(wanted, limit=limit)]
    if len(listed) < limit:
        assert await store.count_runs(wanted) == len(listed), wanted
    return listed


async def test_list_runs_filters_by_trigger(store: Store, clock: FakeClock) -> None:
    made: dict[str, list[str]] = {}
    for trigger in ("api", "cli", "schedule", "backfill", "parent", "api"):
        clock.advance(1)
        made.setdefault(trigger, []).append(await started(store, trigger=trigger))
    for trigger, runs in made.items():
        assert await ids(store, RunFilter(trigger=trigger)) == runs[::-1], trigger
    assert len(await ids(store, RunFilter())) == 6


async def test_since_is_inclusive_and_until_exclusive_on_the_creation_time(
    store: Store, clock: FakeClock
) -> None:
    times = {}
    for _ in range(4):
        run_id = await started(store)
        times[run_id] = clock()
        clock.advance(0.5)
    first, second, third, fourth = times
    t = times[second]
    assert await ids(store, RunFilter(since=t)) == [fourth, third, second]
    assert await ids(store, RunFilter(until=t)) == [first]
    assert await ids(store, RunFilter(since=t, until=times[fourth])) == [third, second]
    assert await ids(store, RunFilter(since=t, until=t)) == [], "an empty range"
    assert await ids(store, RunFilter(since=t + 0.25, until=t + 0.5)) == []
    assert await ids(store, RunFilter(since=t + 0.25, until=t + 0.500001)) == [third]


async def test_list_runs_filters_by_parent_and_an_id_that_is_no_runs_selects_nothing(
    store: Store, clock: FakeClock
) -> None:
    parent, other = await started(store), await started(store)
    children = []
    for _ in range(3):
        clock.advance(1)
        children.append(await started(store, trigger="parent", parent=parent))
    await started(store, trigger="parent", parent=other)
    assert await ids(store, RunFilter(parent=parent)) == children[::-1]
    assert await ids(store, RunFilter(parent=children[0])) == []
    assert await ids(store, RunFilter(parent=str(uuid.uuid4()))) == []
    assert await ids(store, RunFilter(parent="not-a-run-id")) == []


async def test_list_runs_filters_by_a_set_of_statuses_and_with_status_both_hold(
    store: Store, clock: FakeClock
) -> None:
    made = {}
    for status in RunStatus:
        clock.advance(1)
        made[status] = await started(store, status=status)
    unfinished = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED})
    assert await ids(store, RunFilter(statuses=unfinished)) == [
        made[RunStatus.PAUSED],
        made[RunStatus.RUNNING],
        made[RunStatus.PENDING],
    ]
    assert await ids(store, RunFilter(statuses=unfinished, status=RunStatus.RUNNING)) == [
        made[RunStatus.RUNNING]
    ]
    assert await ids(store, RunFilter(statuses=unfinished, status=RunStatus.FAILED)) == []
    assert await ids(store, RunFilter(statuses=frozenset())) == []


async def test_every_filter_combines_with_every_other(store: Store, clock: FakeClock) -> None:
    parent = await started(store)
    start = clock.advance(1)
    wanted = RunFilter(
        workflow="w",
        status=RunStatus.FAILED,
        trigger="parent",
        since=start + 1,
        until=start + 5,
        parent=parent,
    )
    match = []
    for i in range(6):
        clock.advance(1)  # created at start + 1 ... start + 6
        match.append(await started(store, trigger="parent", status=RunStatus.FAILED, parent=parent))
        # Each differs from the wanted runs in one field only.
        await started(store, name="v", trigger="parent", status=RunStatus.FAILED, parent=parent)
        await started(store, trigger="parent", status=RunStatus.SUCCEEDED, parent=parent)
        await started(store, trigger="api", status=RunStatus.FAILED, parent=parent)
        await started(store, trigger="parent", status=RunStatus.FAILED, parent=match[0] if i else None)
    assert await ids(store, wanted) == match[3::-1], "created at start + 1 to start + 4"
    assert await store.count_runs() == 1 + 6 * 5
    assert await store.count_runs(RunFilter(workflow="nope")) == 0


async def test_paging_a_filter_is_stable_while_matching_runs_arrive(store: Store, clock: FakeClock) -> None:
    since = clock()
    created = []
    for i in range(8):
        if i % 3 == 0:
            clock.advance(1)  # some share a creation time: the id breaks the tie
        created.append(await started(store, trigger="schedule"))
        await started(store, trigger="api")  # not selected
    wanted = RunFilter(trigger="schedule", since=since)
    expected = sorted(created, key=lambda r: (created.index(r) // 3, r), reverse=True)
    pages, before = [], None
    while True:
        page = await store.list_runs(wanted, before=before, limit=3)
        if not page:
            break
        pages.append([r.id for r in page])
        before = (page[-1].created_at, page[-1].id)
        # Runs the filter selects arrive between pages: newer than every page read.
        await started(store, trigger="schedule")
        clock.advance(1)
        await started(store, trigger="schedule")
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [r for p in pages for r in p] == expected
    assert await store.count_runs(wanted) == len(created) + 2 * len(pages)


async def test_run_counts_are_by_workflow_and_status_without_zeros(store: Store) -> None:
    assert await store.run_counts() == {}
    for name, status in (
        ("w", RunStatus.SUCCEEDED),
        ("w", RunStatus.SUCCEEDED),
        ("w", RunStatus.FAILED),
        ("v", RunStatus.PENDING),
        ("w", RunStatus.RUNNING),
    ):
        await started(store, name=name, status=status)
    await workflow(store, "unused")
    assert await store.run_counts() == {
        "w": {RunStatus.SUCCEEDED: 2, RunStatus.FAILED: 1, RunStatus.RUNNING: 1},
        "v": {RunStatus.PENDING: 1},
    }


# -- many runs at once (POST /runs/batch) ----------------------------------------------------


async def test_insert_runs_creates_each_run_and_its_rows_as_insert_run_and_insert_steps_do(
    store: Store, clock: FakeClock
) -> None:
    version = await workflow(store)
    parent = await new_run(store, [NewStep("spawn")])
    [spawn] = (await run_of(store, parent))[1].values()
    clock.advance(3)

    def described(run_id: str, key: str, tick: float) -> tuple[NewRun, list[NewStep]]:
        new = NewRun(
            id=run_id,
            workflow_name="w",
            workflow_version=version,
            input={"a": [1, "x", None], "nul": "a\x00b", "big": 2**53 + 1},
            idempotency_key=key,
            priority=3,
            parent_run_id=parent,
            parent_step=spawn.id,
            deadline_at=clock() + 60.5,
            trigger="schedule",
            schedule_id="nightly",
            schedule_tick=tick,
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        steps = [
            NewStep("a"),
            NewStep("b", status=StepStatus.QUEUED, available_at=clock() + 1),
            NewStep("c", item_index=2, state={"item": "é"}),
        ]
        return new, steps

    one, batched = str(uuid.uuid4()), str(uuid.uuid4())
    async with store.transaction() as txn:
        new, steps = described(one, "one", clock() - 0.5)
        single = await txn.insert_run(new)
        single_rows = await txn.insert_steps(one, steps)
    async with store.transaction() as txn:
        [answer] = await txn.insert_runs([described(batched, "two", clock() - 0.5 - 60)])
    assert answer is not None
    run, rows = answer
    assert replace(run, id=one, idempotency_key="one", schedule_tick=clock() - 0.5) == single
    assert (await run_of(store, batched))[0] == run

    # Apart from their ids and runs, the rows are the same as insert_steps makes.
    def by_step(found: list[StepRow], run_id: str) -> dict[tuple[str, int], StepRow]:
        return {(r.step_id, r.item_index): replace(r, id=0, run_id=run_id) for r in found}

    assert by_step(rows, one) == by_step(single_rows, one) and len(rows) == 3
    assert sorted(rows, key=lambda r: r.id) == (await store.get_run(batched) or (None, []))[1]


async def test_insert_runs_skips_a_run_whose_key_or_tick_is_taken_and_keeps_the_others(store: Store) -> None:
    await new_run(store, key="taken")
    version = await workflow(store)

    def run(key: str | None = None, tick: float | None = None) -> tuple[NewRun, list[NewStep]]:
        new = NewRun(
            id=str(uuid.uuid4()),
            workflow_name="w",
            workflow_version=version,
            input={},
            idempotency_key=key,
            schedule_id=None if tick is None else "s",
            schedule_tick=tick,
        )
        return new, [NewStep("a"), NewStep("b")]

    given = [run("taken"), run(), run("twice"), run("twice"), run(tick=60.0), run(tick=60.0), run()]
    async with store.transaction() as txn:
        answers = await txn.insert_runs(given)
        assert [answer is not None for answer in answers] == [False, True, True, False, True, False, True]
        found = await txn.find_run("w", "twice")
        assert found is not None and found.id == given[2][0].id
        later = str(uuid.uuid4())  # the transaction stays usable
        await txn.insert_run(NewRun(id=later, workflow_name="w", workflow_version=version, input={}))
    for (new, _), answer in zip(given, answers, strict=True):
        stored = await store.get_run(new.id)
        if answer is None:
            assert stored is None, "nothing of a refused run is written"
        else:
            assert stored is not None and sorted(r.step_id for r in stored[1]) == ["a", "b"]
            assert sorted(r.step_id for r in answer[1]) == ["a", "b"]
    assert await store.get_run(later) is not None
    async with store.transaction() as txn:
        assert await txn.insert_runs([]) == []


async def test_insert_runs_gives_each_runs_rows_its_priority(store: Store, clock: FakeClock) -> None:
    version = await workflow(store)
    given = [
        (
            NewRun(id=str(uuid.uuid4()), workflow_name="w", workflow_version=version, input={}, priority=p),
            [NewStep("a", status=StepStatus.QUEUED, available_at=clock())],
        )
        for p in (1, 9, 5)
    ]
    async with store.transaction() as txn:
        await txn.insert_runs(given)
    clock.advance(1)
    claimed = [item.row.run_id for item in await claim(store, limit=3)]
    assert claimed == [given[1][0].id, given[2][0].id, given[0][0].id], "claimed by priority"

"""Schedules: a workflow's latest version declares them (registration syncs their rows),
due ones are found earliest first, a transaction locks one and moves it on, and a tick of a
schedule has at most one run."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

import pytest

from executor.statuses import RunStatus
from executor.store import Store
from executor.store.base import DuplicateRun
from executor.store.records import NewRun, RunRecord, ScheduleRow
from executor.workflow.schedules import Schedule
from tests.contract.helpers import START, FakeClock, OpenStore, set_run


def spec(schedule_id: str, **fields: Any) -> dict[str, Any]:
    """A schedule as a parsed definition holds it (``every: 60`` unless told)."""
    if "cron" not in fields:
        fields.setdefault("every", 60.0)
    return Schedule(id=schedule_id, **fields).to_json()


ONLY_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def register(store: Store, *schedules: dict[str, Any], name: str = "w", n: int = 0) -> int:
    """Register a definition of ``name`` declaring ``schedules`` (``n`` tells apart two
    definitions declaring the same); its version."""
    definition = {"name": name, "n": n, "schedules": list(schedules), "steps": [{"id": "a"}]}
    text = json.dumps(definition, sort_keys=True)
    record, _ = await store.register_workflow(
        name, hashlib.sha256(text.encode()).hexdigest(), text, definition
    )
    return record.version


async def schedule(store: Store, schedule_id: str, name: str = "w") -> ScheduleRow:
    found = await store.get_schedule(name, schedule_id)
    assert found is not None, f"no schedule {name}/{schedule_id}"
    return found


async def move(store: Store, schedule_id: str, name: str = "w", **changes: Any) -> None:
    """`Txn.update_schedule` in a transaction of its own."""
    async with store.transaction() as txn:
        await txn.update_schedule(name, schedule_id, **changes)


async def busy(store: Store, schedule_id: str = "a", name: str = "w") -> dict[str, Any]:
    """Give a schedule a state of its own (as if it had fired for a while); return it."""
    state: dict[str, Any] = {
        "next_tick": START + 60,
        "due_at": START + 61.5,
        "last_tick": START,
        "buffered": [{"tick": START - 60, "trigger": "backfill"}],
        "fired": 3,
        "missed": 2,
        "skipped": 1,
        "paused": True,
    }
    await move(store, schedule_id, name, **state)
    return state


def state_of(row: ScheduleRow) -> dict[str, Any]:
    return {
        "next_tick": row.next_tick,
        "due_at": row.due_at,
        "last_tick": row.last_tick,
        "buffered": row.buffered,
        "fired": row.fired,
        "missed": row.missed,
        "skipped": row.skipped,
        "paused": row.paused,
    }


async def tick_run(
    store: Store, tick: float, schedule_id: str = "a", name: str = "w", trigger: str = "schedule"
) -> RunRecord:
    """A run of a schedule's tick, committed."""
    async with store.transaction() as txn:
        return await txn.insert_run(new_tick_run(tick, schedule_id, name, trigger))


def new_tick_run(tick: float, schedule_id: str = "a", name: str = "w", trigger: str = "schedule") -> NewRun:
    return NewRun(
        id=str(uuid.uuid4()),
        workflow_name=name,
        workflow_version=1,
        input={},
        trigger=trigger,
        schedule_id=schedule_id,
        schedule_tick=tick,
    )


# -- what registering a version does to its schedules ---------------------------------------


async def test_a_new_schedule_is_active_and_due_now_with_no_next_tick(store: Store, clock: FakeClock) -> None:
    declared = spec("a", cron="30 2 * * *", timezone="Europe/Berlin", input={"env": "prod"}, jitter=30.0)
    await register(store, declared)

    row = await schedule(store, "a")
    assert row == ScheduleRow(
        workflow_name="w",
        schedule_id="a",
        spec=declared,
        active=True,
        paused=False,
        next_tick=None,
        due_at=clock(),
        last_tick=None,
        buffered=[],
        fired=0,
        missed=0,
        skipped=0,
        created_at=clock(),
        updated_at=clock(),
    )
    assert await store.list_schedules() == [row]
    assert await store.due_schedules(10) == [("w", "a")]
    assert await store.next_schedule_due() == clock()


async def test_an_unchanged_schedule_keeps_its_next_tick_and_buffer_in_a_new_version(
    store: Store, clock: FakeClock
) -> None:
    await register(store, spec("a"), n=1)
    state = await busy(store)
    before = await schedule(store, "a")
    clock.advance(3600)

    assert await register(store, spec("a"), n=2) == 2

    after = await schedule(store, "a")
    assert state_of(after) == state
    assert after.active and after.created_at == before.created_at


async def test_a_changed_schedule_starts_afresh_from_now_keeping_its_pause_and_counts(
    store: Store, clock: FakeClock
) -> None:
    await register(store, spec("a"), n=1)
    state = await busy(store)
    clock.advance(3600)

    await register(store, spec("a", every=120.0), n=2)

    row = await schedule(store, "a")
    assert row.spec == spec("a", every=120.0)
    assert (row.next_tick, row.due_at, row.buffered) == (None, clock(), [])
    assert (row.paused, row.fired, row.missed, row.skipped) == (True, 3, 2, 1)
    assert row.last_tick == state["last_tick"]


async def test_any_change_of_the_declaration_counts_as_a_change(store: Store, clock: FakeClock) -> None:
    await register(store, spec("a"), n=0)
    for n, changed in enumerate(
        [
            spec("a", timezone="Europe/Berlin"),
            spec("a", timezone="Europe/Berlin", input={"x": 1}),
            spec("a", timezone="Europe/Berlin", input={"x": 1}, overlap="allow_all"),
            spec("a", timezone="Europe/Berlin", input={"x": 1}, overlap="allow_all", jitter=5.0),
            spec("a", cron="@hourly"),
        ],
        start=1,
    ):
        await move(store, "a", next_tick=START + 60, due_at=START + 60)
        clock.advance(1)
        await register(store, changed, n=n)
        row = await schedule(store, "a")
        assert (row.spec, row.next_tick, row.due_at) == (changed, None, clock()), changed


async def test_a_schedule_a_version_drops_becomes_inactive_neither_listed_nor_due(
    store: Store, clock: FakeClock
) -> None:
    await register(store, spec("a"), spec("b"), n=1)
    await move(store, "a", next_tick=START + 600, due_at=START + 600)
    clock.advance(10)

    await register(store, spec("a"), n=2)

    dropped = await schedule(store, "b")
    assert not dropped.active and dropped.buffered == []
    assert [row.schedule_id for row in await store.list_schedules()] == ["a"]
    assert [row.schedule_id for row in await store.list_schedules("w")] == ["a"]
    assert await store.due_schedules(10) == []
    assert await store.next_schedule_due() == START + 600


async def test_a_schedule_back_after_a_version_without_it_starts_afresh_keeping_pause_and_counts(
    store: Store, clock: FakeClock
) -> None:
    await register(store, spec("a"), n=1)
    state = await busy(store)
    await register(store, n=2)
    assert await store.list_schedules() == []
    clock.advance(7200)

    await register(store, spec("a"), n=3)  # the very same declaration as in version 1

    row = await schedule(store, "a")
    assert row.active
    assert (row.next_tick, row.due_at, row.buffered) == (None, clock(), [])
    assert (row.paused, row.fired, row.missed, row.skipped) == (True, 3, 2, 1)
    assert row.last_tick == state["last_tick"]


async def test_registering_an_older_versions_definition_again_syncs_nothing(
    store: Store, clock: FakeClock
) -> None:
    await register(store, spec("a"), spec("old"), n=1)
    await register(store, spec("a", every=120.0), n=2)
    state = await busy(store)
    clock.advance(60)

    assert await register(store, spec("a"), spec("old"), n=1) == 1  # stored already: version 1

    row = await schedule(store, "a")
    assert row.spec == spec("a", every=120.0) and state_of(row) == state
    assert not (await schedule(store, "old")).active
    assert [r.schedule_id for r in await store.list_schedules()] == ["a"]


async def test_registering_the_latest_definition_again_keeps_every_schedule_as_it_is(
    store: Store, clock: FakeClock
) -> None:
    await register(store, spec("a"), n=1)
    state = await busy(store)
    before = await schedule(store, "a")
    clock.advance(60)

    assert await register(store, spec("a"), n=1) == 1

    after = await schedule(store, "a")
    assert state_of(after) == state and after.updated_at == before.updated_at


async def test_a_workflows_versions_touch_only_its_own_schedules(store: Store) -> None:
    await register(store, spec("a"), name="y")
    await register(store, spec("b"), spec("a"), name="x", n=1)
    await register(store, spec("b"), name="x", n=2)  # drops x/a, not y/a

    listed = [(row.workflow_name, row.schedule_id) for row in await store.list_schedules()]
    assert listed == [("x", "b"), ("y", "a")], "by workflow, then id"
    assert [row.schedule_id for row in await store.list_schedules("y")] == ["a"]
    assert await store.list_schedules("nope") == []
    assert await store.get_schedule("y", "nope") is None
    assert await store.get_schedule("nope", "a") is None


# -- which schedules are due ------------------------------------------------------------


async def test_due_schedules_are_the_active_unpaused_past_due_ones_earliest_first(
    store: Store, clock: FakeClock
) -> None:
    ids = ["late", "early", "now", "paused", "future", "never", "gone"]
    await register(store, *(spec(i) for i in ids), n=1)
    await move(store, "late", due_at=START - 10)
    await move(store, "early", due_at=START - 30)
    await move(store, "now", due_at=START)
    await move(store, "paused", due_at=START - 100, paused=True)
    await move(store, "future", due_at=START + 0.5)
    await move(store, "never", due_at=None)
    await move(store, "gone", due_at=START - 200)
    await register(store, *(spec(i) for i in ids if i != "gone"), n=2)  # unchanged: due_at kept
    assert (await schedule(store, "gone")).due_at == START - 200

    assert await store.due_schedules(10) == [("w", "early"), ("w", "late"), ("w", "now")]
    assert await store.due_schedules(2) == [("w", "early"), ("w", "late")]
    assert await store.next_schedule_due() == START - 30

    clock.advance(0.5)
    assert ("w", "future") in await store.due_schedules(10)


async def test_next_schedule_due_is_the_earliest_due_at_even_in_the_future_or_none(
    store: Store, clock: FakeClock
) -> None:
    assert await store.next_schedule_due() is None
    await register(store, spec("a"), spec("b"))
    await move(store, "a", due_at=START + 90)
    await move(store, "b", due_at=START + 30.5)

    assert await store.next_schedule_due() == START + 30.5
    assert await store.due_schedules(10) == []

    await move(store, "b", paused=True)
    assert await store.next_schedule_due() == START + 90
    await move(store, "a", due_at=None)
    assert await store.next_schedule_due() is None


# -- a transaction's hold on a schedule ----------------------------------------------------


async def test_update_schedule_sets_exactly_what_it_is_given(store: Store, clock: FakeClock) -> None:
    await register(store, spec("a"), spec("b"))
    b_before = await schedule(store, "b")
    clock.advance(2.5)
    buffered = [
        {"tick": START - 120.5, "trigger": "schedule"},
        {"tick": START - 60, "trigger": "backfill"},
    ]

    await move(
        store,
        "a",
        next_tick=START + 60.5,
        due_at=START + 61.25,
        last_tick=START - 0.5,
        buffered=buffered,
        fired=12,
        missed=3,
        skipped=4,
        paused=True,
    )

    row = await schedule(store, "a")
    assert state_of(row) == {
        "next_tick": START + 60.5,
        "due_at": START + 61.25,
        "last_tick": START - 0.5,
        "buffered": buffered,
        "fired": 12,
        "missed": 3,
        "skipped": 4,
        "paused": True,
    }
    assert row.updated_at == clock() and row.created_at == START
    assert await schedule(store, "b") == b_before, "only the schedule named"

    clock.advance(1)
    await move(store, "a", next_tick=None, due_at=None, last_tick=None, buffered=[], paused=False)
    row = await schedule(store, "a")
    assert (row.next_tick, row.due_at, row.last_tick, row.buffered, row.paused) == (
        None,
        None,
        None,
        [],
        False,
    )
    assert (row.fired, row.missed, row.skipped) == (12, 3, 4)

    updated = row.updated_at
    clock.advance(1)
    await move(store, "a")
    assert (await schedule(store, "a")).updated_at == updated, "no changes: nothing happens"


async def test_update_schedule_refuses_other_columns(store: Store) -> None:
    await register(store, spec("a"))
    refused: list[dict[str, Any]] = [
        {"active": False},
        {"spec": {}},
        {"created_at": 0.0},
        {"workflow_name": "x"},
    ]
    for changes in refused:
        with pytest.raises(ValueError, match=next(iter(changes))):
            await move(store, "a", **changes)
    assert (await schedule(store, "a")).active


async def test_lock_schedule_gives_the_row_and_the_stores_now(store: Store, clock: FakeClock) -> None:
    await register(store, spec("a"))
    await register(store, spec("b"), name="x", n=1)
    await register(store, name="x", n=2)  # x/b inactive
    clock.advance(12.5)

    async with store.transaction() as txn:
        locked = await txn.lock_schedule("w", "a")
        assert locked is not None
        row, now = locked
        assert row == await schedule(store, "a") and now == START + 12.5
        assert await txn.lock_schedule("w", "nope") is None
        assert await txn.lock_schedule("nope", "a") is None
        inactive = await txn.lock_schedule("x", "b")
        assert inactive is not None and not inactive[0].active, "found, inactive: the caller decides"

    clock.advance(1)
    async with store.transaction() as txn:
        again = await txn.lock_schedule("w", "a")
    assert again is not None and again[1] == START + 13.5


# PostgreSQL only: SQLite has one writer at a time, a second transaction waits for the lock.
@ONLY_POSTGRES
async def test_a_locked_schedule_is_skipped_by_other_transactions_until_released(
    store: Store, open_store: OpenStore
) -> None:
    await register(store, spec("a"), spec("b"))
    async with open_store() as other:
        async with store.transaction() as holder:
            assert await holder.lock_schedule("w", "a") is not None
            async with other.transaction() as txn:
                assert await txn.lock_schedule("w", "a") is None, "held: another is handling it"
                assert await txn.lock_schedule("w", "b") is not None, "only that one"
            await holder.update_schedule("w", "a", fired=1)
        async with other.transaction() as txn:
            released = await txn.lock_schedule("w", "a")
        assert released is not None and released[0].fired == 1, "the holder's change, committed"


# PostgreSQL only: SQLite has one writer at a time, a second transaction waits for the lock.
@ONLY_POSTGRES
async def test_a_holder_that_rolls_back_releases_the_schedule_unchanged(
    store: Store, open_store: OpenStore
) -> None:
    await register(store, spec("a"))

    async def fail_holding() -> None:
        async with store.transaction() as holder:
            await holder.lock_schedule("w", "a")
            await holder.update_schedule("w", "a", fired=5)
            raise RuntimeError("the holder fails")

    async with open_store() as other:
        with pytest.raises(RuntimeError):
            await fail_holding()
        async with other.transaction() as txn:
            locked = await txn.lock_schedule("w", "a")
        assert locked is not None and locked[0].fired == 0


# -- the runs of a schedule --------------------------------------------------------------


async def test_unfinished_schedule_runs_are_the_schedules_runs_not_finished_oldest_first(
    store: Store, clock: FakeClock
) -> None:
    await register(store, spec("a"), spec("b"))
    await register(store, spec("a"), name="other")
    first = await tick_run(store, START)
    clock.advance(1)
    done = await tick_run(store, START + 60)
    await set_run(store, done.id, status=RunStatus.SUCCEEDED, finished_at=clock())
    clock.advance(1)
    backfilled = await tick_run(store, START - 600, trigger="backfill")
    clock.advance(1)
    await tick_run(store, START, schedule_id="b")
    await tick_run(store, START, name="other")
    async with store.transaction() as txn:  # a run no schedule started
        await txn.insert_run(NewRun(id=str(uuid.uuid4()), workflow_name="w", workflow_version=1, input={}))

    async with store.transaction() as txn:
        unfinished = await txn.unfinished_schedule_runs("w", "a")
        assert [run.id for run in unfinished] == [first.id, backfilled.id]
        assert [(r.trigger, r.schedule_id, r.schedule_tick) for r in unfinished] == [
            ("schedule", "a", START),
            ("backfill", "a", START - 600),
        ]
        assert await txn.unfinished_schedule_runs("w", "nope") == []

    await set_run(store, first.id, status=RunStatus.CANCELLED, finished_at=clock())
    async with store.transaction() as txn:
        assert [run.id for run in await txn.unfinished_schedule_runs("w", "a")] == [backfilled.id]


async def test_a_tick_has_at_most_one_run_and_find_tick_run_finds_it(store: Store) -> None:
    await register(store, spec("a"), spec("b"))
    await register(store, spec("a"), name="other")
    run = await tick_run(store, START + 0.5)
    assert (run.trigger, run.schedule_id, run.schedule_tick) == ("schedule", "a", START + 0.5)

    async with store.transaction() as txn:
        with pytest.raises(DuplicateRun):
            await txn.insert_run(new_tick_run(START + 0.5, trigger="backfill"))
        # The transaction is still usable: other ticks, schedules and workflows are free.
        later = await txn.insert_run(new_tick_run(START + 60))
        other_schedule = await txn.insert_run(new_tick_run(START + 0.5, schedule_id="b"))
        other_workflow = await txn.insert_run(new_tick_run(START + 0.5, name="other"))
        assert await txn.find_tick_run("w", "a", START + 0.5) == run
        assert await txn.find_tick_run("w", "a", START + 60) == later

    async with store.transaction() as txn:
        assert await txn.find_tick_run("w", "a", START + 0.5) == run
        assert await txn.find_tick_run("w", "b", START + 0.5) == other_schedule
        assert await txn.find_tick_run("other", "a", START + 0.5) == other_workflow
        assert await txn.find_tick_run("w", "a", START + 1) is None
        assert await txn.find_tick_run("w", "nope", START + 0.5) is None


async def test_concurrent_inserts_of_one_tick_make_one_run(store: Store, open_store: OpenStore) -> None:
    await register(store, spec("a"))

    async def fire(on: Store) -> RunRecord | None:
        try:
            async with on.transaction() as txn:
                return await txn.insert_run(new_tick_run(START))
        except DuplicateRun:
            return None

    async with open_store() as other:
        made = await asyncio.gather(*(fire(on) for _ in range(4) for on in (store, other)))

    runs = [run for run in made if run is not None]
    assert len(runs) == 1, made
    async with store.transaction() as txn:
        assert await txn.find_tick_run("w", "a", START) == runs[0]

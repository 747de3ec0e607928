"""Places under keys (mutual exclusion): holders up to the limit, the rest in a FIFO line,
let in as places are given up; never more holders than the limit, from many stores at once."""

from __future__ import annotations

import asyncio

from executor.statuses import RunStatus, StepStatus
from executor.store import Store
from executor.store.records import NewStep, Place
from tests.contract.helpers import START, FakeClock, OpenStore, new_run, run_of


async def take(store: Store, key: str, run_id: str, step: int | None = None, limit: int = 1) -> Place:
    async with store.transaction() as txn:
        return await txn.take_place(key, limit, run_id, step)


async def leave(store: Store, run_id: str, step: int | None = None) -> list[str]:
    async with store.transaction() as txn:
        return await txn.leave_places(run_id, step)


async def let_in(store: Store, key: str) -> list[tuple[str, int | None]]:
    async with store.transaction() as txn:
        return await txn.let_in(key)


async def step_of(store: Store, run_id: str) -> int:
    return (await run_of(store, run_id))[1]["s"].id


async def test_the_first_place_holds_and_the_next_ones_wait_in_line(store: Store) -> None:
    runs = [await new_run(store) for _ in range(3)]
    first, second, third = [await take(store, "ledger", run_id) for run_id in runs]
    assert (first.holding, first.position, first.held_at) == (True, 0, START)
    assert (first.key, first.run_id, first.step, first.step_id, first.limit) == (
        "ledger",
        runs[0],
        None,
        None,
        1,
    )
    assert (second.holding, second.position, second.held_at) == (False, 1, None)
    assert (third.holding, third.position, third.created_at) == (False, 2, START)


async def test_taking_a_place_again_returns_the_one_it_has(store: Store) -> None:
    holder, waiter = await new_run(store), await new_run(store)
    await take(store, "k", holder)
    assert (await take(store, "k", waiter)).position == 1
    again = await take(store, "k", waiter, limit=5)  # not let in by a larger limit: it waits
    assert (again.holding, again.position, again.limit) == (False, 1, 1)
    assert len(await store.places_under("k")) == 2


async def test_a_semaphore_lets_in_up_to_its_limit(store: Store) -> None:
    runs = [await new_run(store) for _ in range(4)]
    places = [await take(store, "gpu", run_id, limit=2) for run_id in runs]
    assert [(p.holding, p.position) for p in places] == [(True, 0), (True, 0), (False, 1), (False, 2)]
    assert [p.run_id for p in await store.places_under("gpu")] == runs


async def test_leaving_lets_the_head_of_the_line_in_first(store: Store) -> None:
    runs = [await new_run(store) for _ in range(3)]
    for run_id in runs:
        await take(store, "ledger", run_id)
    assert await let_in(store, "ledger") == [], "the holder is still there"
    assert await leave(store, runs[0]) == ["ledger"]
    assert await let_in(store, "ledger") == [(runs[1], None)]
    under = await store.places_under("ledger")
    assert [(p.run_id, p.holding, p.position) for p in under] == [(runs[1], True, 0), (runs[2], False, 1)]
    assert await leave(store, runs[0]) == [], "nothing left to give up"


async def test_a_waiter_that_leaves_gives_its_place_to_the_one_behind(store: Store) -> None:
    runs = [await new_run(store) for _ in range(3)]
    for run_id in runs:
        await take(store, "k", run_id)
    await leave(store, runs[1])
    assert [(p.run_id, p.position) for p in await store.places_under("k")] == [(runs[0], 0), (runs[2], 1)]


async def test_a_key_freed_with_nobody_waiting_is_taken_at_once(store: Store) -> None:
    first, second = await new_run(store), await new_run(store)
    await take(store, "k", first)
    await leave(store, first)
    assert await let_in(store, "k") == []
    assert (await take(store, "k", second)).holding


async def test_step_places_and_run_places_are_apart(store: Store) -> None:
    run_id = await new_run(store, [NewStep("s", status=StepStatus.PENDING)])
    step = await step_of(store, run_id)
    other = await new_run(store)
    await take(store, "deploy", run_id)  # the run's own place
    on_step = await take(store, "deploy", run_id, step)  # its step's, under the same key
    assert (on_step.step, on_step.step_id, on_step.holding, on_step.position) == (step, "s", False, 1)
    await take(store, "ledger", run_id, step)
    await take(store, "ledger", other)
    places = await store.run_places(run_id)
    assert [(p.key, p.step_id, p.holding) for p in places] == [
        ("deploy", None, True),
        ("deploy", "s", False),
        ("ledger", "s", True),
    ]
    assert sorted(await leave(store, run_id, step)) == ["deploy", "ledger"]
    assert [(p.key, p.step) for p in await store.run_places(run_id)] == [("deploy", None)]
    assert await leave(store, run_id) == ["deploy"]
    assert await store.run_places(run_id) == []


async def test_a_smaller_head_limit_keeps_the_line_waiting(store: Store) -> None:
    runs = [await new_run(store) for _ in range(4)]
    await take(store, "k", runs[0], limit=3)
    await take(store, "k", runs[1], limit=3)
    await take(store, "k", runs[2], limit=1)  # waits: one holds already
    await take(store, "k", runs[3], limit=3)  # waits behind it (first come, first let in)
    await leave(store, runs[0])
    assert await let_in(store, "k") == [], "the head asks for the key alone: one still holds it"
    await leave(store, runs[1])
    assert await let_in(store, "k") == [(runs[2], None)]
    assert await let_in(store, "k") == [], "the line waits behind a mutex held"


async def test_places_go_with_their_run(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store)
    await take(store, "k", run_id)
    async with store.transaction() as txn:
        await txn.update_run(run_id, status=RunStatus.CANCELLED, finished_at=START)
    clock.advance(1)
    assert (await store.purge_runs(0, limit=10)).deleted == 1
    assert await store.places_under("k") == []


async def test_kept_places_are_those_of_steps_and_runs_final_for_longer_than_the_age(
    store: Store, clock: FakeClock
) -> None:
    ended_step = await new_run(store, [NewStep("s", status=StepStatus.RUNNING)])
    ended_run, going, fresh = await new_run(store), await new_run(store), await new_run(store)
    step = await step_of(store, ended_step)
    await take(store, "k", ended_step, step, limit=5)
    for run_id in (ended_run, going, fresh):
        await take(store, "k", run_id, limit=5)
    async with store.transaction() as txn:
        await txn.update_step(step, status=StepStatus.CANCELLED, finished_at=START)
        await txn.update_run(ended_run, status=RunStatus.CANCELLED, finished_at=START)
        await txn.update_run(fresh, status=RunStatus.FAILED, finished_at=START + 5)
    assert await store.kept_places(10, 100) == [], "none final for 10 s yet"
    clock.advance(12)
    assert sorted(await store.kept_places(10, 100), key=str) == sorted(
        [(ended_step, step), (ended_run, None)], key=str
    ), "not a run still going, nor one final for 7 s only"
    assert len(await store.kept_places(10, 1)) == 1
    await leave(store, ended_step, step)
    assert await store.kept_places(10, 100) == [(ended_run, None)]


async def test_run_places_of_an_id_that_is_no_run_is_empty(store: Store) -> None:
    assert await store.run_places("nope") == []


async def test_many_stores_at_once_never_let_in_more_than_the_limit(
    store: Store, open_store: OpenStore
) -> None:
    runs = [await new_run(store) for _ in range(12)]
    async with open_store() as second, open_store() as third:
        stores = [store, second, third]
        taken = await asyncio.gather(
            *(take(stores[n % 3], "gpu", run_id, limit=3) for n, run_id in enumerate(runs))
        )
        assert sum(place.holding for place in taken) == 3
        places = await store.places_under("gpu")
        assert [p.position for p in places] == [0, 0, 0, *range(1, 10)]

        async def release_and_let_in(on: Store, run_id: str) -> list[tuple[str, int | None]]:
            async with on.transaction() as txn:
                await txn.leave_places(run_id, None)
                return await txn.let_in("gpu")

        holders = [p.run_id for p in places if p.holding]
        let = await asyncio.gather(
            *(release_and_let_in(on, r) for on, r in zip(stores, holders, strict=True))
        )
    assert sorted(run for batch in let for run, _ in batch) == sorted(p.run_id for p in places[3:6])
    assert sum(p.holding for p in await store.places_under("gpu")) == 3

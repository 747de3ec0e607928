"""Step rows: insertion, the reads a transaction makes, updates, items, results, and the
transaction's write count and prefetch hint."""

from __future__ import annotations

import pytest

from executor.statuses import RunStatus, StepStatus
from executor.store import Store
from executor.store.records import NewStep, StepChanges
from tests.contract.helpers import FakeClock, claim, new_run, queued, row, run_of, set_step


async def test_insert_steps_adds_rows_to_the_run_and_returns_them(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store)
    clock.advance(2)
    async with store.transaction() as txn:
        inserted = await txn.insert_steps(
            run_id,
            [
                NewStep("a"),
                NewStep("b", status=StepStatus.QUEUED, available_at=clock() + 1),
                NewStep("c", item_index=3, state={"item": "x"}),
            ],
        )
    by_step = {(r.step_id, r.item_index): r for r in inserted}
    assert set(by_step) == {("a", -1), ("b", -1), ("c", 3)}
    a, b, c = by_step["a", -1], by_step["b", -1], by_step["c", 3]
    assert (a.run_id, a.status, a.attempt, a.created_at) == (run_id, "pending", 0, clock())
    assert (a.available_at, a.state, a.output, a.error) == (None, None, None, None)
    assert (a.lease_owner, a.lease_token, a.lease_expires_at, a.started_at, a.finished_at) == (None,) * 5
    assert (a.created_at, b.status, b.available_at, c.state) == (
        clock(),
        "queued",
        clock() + 1,
        {"item": "x"},
    )
    assert sorted(inserted, key=lambda r: r.id) == [r for r in (await store.get_run(run_id) or (None, []))[1]]


async def test_run_steps_reads_every_row_of_the_run_ordered_by_id(store: Store) -> None:
    run_id = await new_run(store, [NewStep("b"), NewStep("a"), NewStep("b", item_index=0)])
    await new_run(store, [NewStep("a")])  # another run's rows are not read
    async with store.transaction() as txn:
        rows = await txn.run_steps(run_id)
    assert [(r.step_id, r.item_index) for r in rows] == [("b", -1), ("a", -1), ("b", 0)]
    assert rows == (await store.get_run(run_id) or (None, []))[1]


async def test_get_step_reads_one_row_by_id_or_none(store: Store) -> None:
    run_id = await new_run(store, [NewStep("a")])
    [a] = (await run_of(store, run_id))[1].values()
    async with store.transaction() as txn:
        assert await txn.get_step(a.id) == a
        assert await txn.get_step(a.id + 1000) is None


async def test_step_rows_reads_the_step_level_rows_of_the_asked_steps(store: Store) -> None:
    run_id = await new_run(store, [NewStep("a"), NewStep("b"), NewStep("c"), NewStep("a", item_index=0)])
    other = await new_run(store, [NewStep("a")])
    async with store.transaction() as txn:
        rows = await txn.step_rows(run_id, ["a", "c", "missing"])
        assert sorted((r.step_id, r.item_index, r.run_id) for r in rows) == [
            ("a", -1, run_id),
            ("c", -1, run_id),
        ]
        assert [r.run_id for r in await txn.step_rows(other, ["a"])] == [other]
        assert await txn.step_rows(run_id, []) == []


async def test_update_step_sets_its_columns_and_refuses_others(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store, [NewStep("a")])
    [a] = (await run_of(store, run_id))[1].values()
    changes: StepChanges = {
        "status": StepStatus.FAILED,
        "attempt": 3,
        "available_at": clock() + 1,
        "state": {"s": [1]},
        "output": ["out", 2],
        "error": "bad",
        "started_at": clock() + 2,
        "finished_at": clock() + 3.5,
    }
    await set_step(store, a.id, **changes)
    updated = await row(store, a.id)
    assert {c: getattr(updated, c) for c in changes} == changes
    await set_step(
        store, a.id, status=StepStatus.QUEUED, state=None, output=None, error=None, finished_at=None
    )
    updated = await row(store, a.id)
    assert updated.status == "queued"
    assert (updated.state, updated.output, updated.error, updated.finished_at) == (None, None, None, None)
    with pytest.raises(ValueError, match="lease_owner"):
        # Not a column update_step sets, on purpose (so not a keyword to the type checker either).
        await set_step(store, a.id, lease_owner="me")  # type: ignore[call-arg]


async def test_leaving_running_clears_the_lease(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store, [queued("a", clock()), queued("b", clock())])
    claimed = {c.row.step_id: c for c in await claim(store)}
    await set_step(store, claimed["a"].row.id, state={"progress": 1})  # still running: still held
    await set_step(store, claimed["b"].row.id, status=StepStatus.SUCCEEDED, output=1)
    _, rows = await run_of(store, run_id)
    assert (rows["a"].lease_owner, rows["a"].lease_token) == ("me", claimed["a"].token)
    assert rows["a"].lease_expires_at == clock() + 30
    assert (rows["b"].lease_owner, rows["b"].lease_token, rows["b"].lease_expires_at) == (None, None, None)


async def test_unfinished_steps_counts_step_level_rows_not_final(store: Store) -> None:
    statuses = ["pending", "queued", "running", "waiting", "succeeded", "failed", "skipped", "cancelled"]
    steps = [NewStep(s, status=StepStatus(s)) for s in statuses]
    run_id = await new_run(store, [*steps, NewStep("pending", item_index=0)])
    async with store.transaction() as txn:
        assert await txn.unfinished_steps(run_id) == 4
        [done] = await txn.step_rows(run_id, ["queued"])
        await txn.update_step(done.id, status=StepStatus.SUCCEEDED)
        assert await txn.unfinished_steps(run_id) == 3  # as written in this transaction


async def test_items_are_read_by_index_and_in_order(store: Store) -> None:
    items = [NewStep("fan", item_index=i, state={"item": i * 10}) for i in (2, 0, 1)]
    run_id = await new_run(
        store, [NewStep("fan", status=StepStatus.RUNNING), *items, NewStep("other", item_index=0)]
    )
    async with store.transaction() as txn:
        assert [r.item_index for r in await txn.items(run_id, "fan")] == [0, 1, 2]
        second = await txn.item(run_id, "fan", 1)
        assert second is not None and (second.step_id, second.state) == ("fan", {"item": 10})
        assert await txn.item(run_id, "fan", 3) is None
        assert await txn.item(run_id, "fan", -1) is not None  # the step's own row
        assert [r.item_index for r in await txn.items_from(run_id, "fan", 1, 5)] == [1, 2]
        assert [r.state for r in await txn.items_from(run_id, "fan", 0, 2)] == [{"item": 0}, {"item": 10}]
        assert await txn.items_from(run_id, "fan", 3, 5) == []
        assert await txn.items(run_id, "none") == []


async def test_delete_items_removes_the_item_rows_of_the_step_only(store: Store) -> None:
    rows = [
        NewStep("fan"),
        NewStep("fan", item_index=0),
        NewStep("fan", item_index=1),
        NewStep("other", item_index=0),
    ]
    run_id = await new_run(store, rows)
    kept = await new_run(store, rows)
    async with store.transaction() as txn:
        await txn.delete_items(run_id, "fan")
        assert await txn.items(run_id, "fan") == []
    assert sorted((await run_of(store, run_id))[1]) == ["fan", "other[0]"]
    assert len((await run_of(store, kept))[1]) == 4


async def test_step_results_are_the_status_and_output_of_the_step_level_rows(store: Store) -> None:
    run_id = await new_run(store, [NewStep("a"), NewStep("b"), NewStep("b", item_index=0)])
    _, rows = await run_of(store, run_id)
    await set_step(store, rows["a"].id, status=StepStatus.SUCCEEDED, output={"x": [1]})
    await set_step(store, rows["b[0]"].id, status=StepStatus.SUCCEEDED, output="item")
    expected = {"a": ("succeeded", {"x": [1]}), "b": ("pending", None)}
    assert await store.step_results(run_id) == expected
    async with store.transaction() as txn:
        assert await txn.step_results(run_id) == expected
        await txn.update_step(rows["b"].id, status=StepStatus.FAILED, output=None)
        assert await txn.step_results(run_id) == {**expected, "b": ("failed", None)}


async def test_writes_grows_with_every_write(store: Store) -> None:
    run_id = await new_run(store, [NewStep("a")])
    [a] = (await run_of(store, run_id))[1].values()
    async with store.transaction() as txn:
        counts = [txn.writes]
        await txn.update_step(a.id, status=StepStatus.QUEUED, available_at=0.0)
        counts.append(txn.writes)
        await txn.insert_steps(run_id, [NewStep("b")])
        counts.append(txn.writes)
        await txn.update_run(run_id, status=RunStatus.RUNNING)
        counts.append(txn.writes)
        await txn.insert_signal(run_id, "s", None)
        counts.append(txn.writes)
    assert counts == sorted(set(counts)), f"a write left the count unchanged: {counts}"


async def test_prefetched_rows_read_as_written(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store, [NewStep("a"), NewStep("b"), NewStep("c")])
    async with store.transaction() as txn:
        [a] = await txn.step_rows(run_id, ["a"])
        await txn.prefetch([run_id], [a.id], [(run_id, "a"), (run_id, "b")])
        assert (await txn.lock_run(run_id)) is not None
        await txn.update_step(a.id, status=StepStatus.QUEUED, available_at=clock())
        assert getattr(await txn.get_step(a.id), "status", None) == "queued"
        rows = {r.step_id: r.status for r in await txn.step_rows(run_id, ["a", "b", "c"])}
        assert rows == {"a": "queued", "b": "pending", "c": "pending"}
        await txn.update_run(run_id, status=RunStatus.RUNNING)
        assert getattr(await txn.lock_run(run_id), "status", None) == "running"
        assert await txn.unfinished_steps(run_id) == 3
        await txn.delete_items(run_id, "a")
        assert getattr(await txn.get_step(a.id), "status", None) == "queued"


async def test_delete_items_keeps_the_signals_the_items_took_taken(store: Store) -> None:
    # Found by an operator's step retry: a signal an item took pointed at the item's row, and
    # deleting the row failed on the foreign key (a retried for_each of `wait` items).
    run_id = await new_run(
        store, [NewStep("fan"), NewStep("fan", item_index=0), NewStep("fan", item_index=1)]
    )
    _, rows = await run_of(store, run_id)
    async with store.transaction() as txn:
        await txn.insert_signal(run_id, "go", "first")
        assert await txn.take_signal(run_id, "go", rows["fan[0]"].id) == (True, "first")
    async with store.transaction() as txn:
        await txn.delete_items(run_id, "fan")
        assert await txn.items(run_id, "fan") == []
    async with store.transaction() as txn:
        assert await txn.take_signal(run_id, "go", rows["fan"].id) == (False, None), "taken once only"

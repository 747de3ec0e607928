"""When work falls due: the next claimable time (`next_due`) and runs past their deadline."""

from __future__ import annotations

from executor.statuses import RunStatus, StepStatus
from executor.store import Store
from executor.store.records import NewStep
from tests.contract.helpers import FakeClock, claim, new_run, queued, set_run, waiting


async def test_next_due_is_none_without_queued_or_waiting_rows(store: Store, clock: FakeClock) -> None:
    assert await store.next_due() is None
    await new_run(store, [NewStep("a"), NewStep("b", status=StepStatus.SUCCEEDED)])
    await new_run(store, [queued("c", clock())])
    await claim(store)  # now running
    assert await store.next_due() is None


async def test_next_due_is_the_earliest_time_of_any_queued_or_waiting_row(
    store: Store, clock: FakeClock
) -> None:
    t = clock()
    await new_run(store, [queued("q", t + 30), waiting("w", t + 20)])
    assert await store.next_due() == t + 20
    await new_run(store, [queued("sooner", t + 10)], priority=-5)
    assert await store.next_due() == t + 10
    await new_run(store, [waiting("late-timer", t - 100)])  # overdue counts too
    assert await store.next_due() == t - 100


async def test_next_due_leaves_out_paused_and_finished_runs(store: Store, clock: FakeClock) -> None:
    t = clock()
    for status, at in (("paused", t + 1), ("cancelled", t + 2), ("succeeded", t + 3), ("failed", t + 4)):
        run_id = await new_run(store, [queued("q", at), waiting("w", at)])
        await set_run(store, run_id, status=RunStatus(status))
    assert await store.next_due() is None
    running = await new_run(store, [queued("q", t + 50)])
    await set_run(store, running, status=RunStatus.RUNNING)
    assert await store.next_due() == t + 50


async def test_overdue_runs_are_unfinished_runs_past_their_deadline(store: Store, clock: FakeClock) -> None:
    t = clock()
    runs = {status: await new_run(store, deadline_at=t + 10) for status in ("pending", "running", "paused")}
    for status in ("running", "paused"):
        await set_run(store, runs[status], status=RunStatus(status))
    for status in ("succeeded", "failed", "cancelled"):
        await set_run(store, await new_run(store, deadline_at=t + 5), status=RunStatus(status))
    await new_run(store)  # no deadline
    later = await new_run(store, deadline_at=t + 20)
    clock.advance(10)
    assert await store.overdue_runs(10) == [], "a deadline passes after its last instant"
    clock.advance(1)
    assert sorted(await store.overdue_runs(10)) == sorted(runs.values())
    assert len(await store.overdue_runs(2)) == 2
    clock.advance(10)
    assert sorted(await store.overdue_runs(10)) == sorted([*runs.values(), later])

"""Claims: which rows are due, in which order, what a claim changes, and that no row is
ever held by two unexpired leases (also when stores claim concurrently)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from executor import migrate
from executor.statuses import RunStatus, StepStatus
from executor.store import Store, create_store
from executor.store.records import NewStep
from executor.store.url import DatabaseURL
from tests.contract.helpers import (
    FakeClock,
    OpenStore,
    claim,
    new_run,
    queued,
    run_of,
    set_run,
    set_step,
    waiting,
)
from tests.support.databases import POOL_SIZE


async def test_claim_takes_queued_rows_once_their_time_has_come(store: Store, clock: FakeClock) -> None:
    await new_run(store, [queued("now", clock()), queued("later", clock() + 10)])
    assert [c.row.step_id for c in await claim(store)] == ["now"]
    clock.advance(9.5)
    assert await claim(store) == []
    clock.advance(0.5)
    assert [c.row.step_id for c in await claim(store)] == ["later"]


async def test_a_claimed_queued_row_runs_a_new_attempt_under_a_new_lease(
    store: Store, clock: FakeClock
) -> None:
    run_id = await new_run(store, [queued("a", clock() - 5)], run_input={"x": [1]})
    await set_step(store, (await run_of(store, run_id))[1]["a"].id, attempt=2)  # two attempts failed
    clock.advance(1)
    [claimed] = await claim(store, "owner-1", lease=42)
    row = claimed.row
    assert (row.run_id, row.step_id, row.status) == (run_id, "a", "running")
    assert (row.attempt, row.started_at) == (3, clock())
    assert (row.lease_owner, row.lease_expires_at) == ("owner-1", clock() + 42) and row.lease_token
    assert (claimed.token, claimed.resumed) == (row.lease_token, False)
    assert (claimed.workflow_name, claimed.workflow_version, claimed.run_input) == ("w", 1, {"x": [1]})
    assert (await run_of(store, run_id))[1]["a"] == row


async def test_claim_starts_a_pending_run_and_leaves_a_running_one_as_it_was(
    store: Store, clock: FakeClock
) -> None:
    pending = await new_run(store, [queued("a", clock())])
    running = await new_run(store, [queued("a", clock())])
    await set_run(store, running, status=RunStatus.RUNNING, started_at=clock() - 100)
    clock.advance(3)
    assert len(await claim(store)) == 2
    started = (await run_of(store, pending))[0]
    assert (started.status, started.started_at) == ("running", clock())
    assert (await run_of(store, running))[0].started_at == clock() - 103


async def test_claim_takes_a_waiting_row_only_when_its_timer_is_due_and_resumes_it(
    store: Store, clock: FakeClock
) -> None:
    run_id = await new_run(store, [waiting("sleep", clock() + 60, state={"wake_at": clock() + 60})])
    await set_run(store, run_id, status=RunStatus.RUNNING, started_at=clock())
    _, rows = await run_of(store, run_id)
    await set_step(store, rows["sleep"].id, attempt=1, started_at=clock())
    started = clock()
    clock.advance(59)
    assert await claim(store) == []
    clock.advance(1)
    [claimed] = await claim(store, lease=10)
    assert claimed.resumed and claimed.row.state == {"wake_at": started + 60}
    # The attempt that suspended goes on: not a new one.
    assert (claimed.row.status, claimed.row.attempt, claimed.row.started_at) == ("running", 1, started)
    assert (claimed.row.lease_owner, claimed.row.lease_expires_at) == ("me", clock() + 10)


async def test_claim_takes_only_queued_and_waiting_rows(store: Store, clock: FakeClock) -> None:
    statuses = ["pending", "running", "succeeded", "failed", "skipped", "cancelled"]
    await new_run(store, [NewStep(s, status=StepStatus(s), available_at=clock() - 1) for s in statuses])
    assert await claim(store) == []


async def test_claim_never_takes_rows_of_paused_or_finished_runs(store: Store, clock: FakeClock) -> None:
    runs = {}
    for status in ("paused", "succeeded", "failed", "cancelled"):
        runs[status] = await new_run(store, [queued("a", clock()), waiting("w", clock())])
        await set_run(store, runs[status], status=RunStatus(status))
    assert await claim(store) == []
    await set_run(store, runs["paused"], status=RunStatus.RUNNING)  # resumed
    assert sorted(c.row.step_id for c in await claim(store)) == ["a", "w"]


async def test_claim_takes_the_highest_run_priority_first_then_the_earliest_ready(
    store: Store, clock: FakeClock
) -> None:
    t = clock()
    await new_run(store, [queued("low-early", t - 30)], priority=0)
    high = await new_run(store, [queued("high-late", t - 1), waiting("high-timer", t - 2)], priority=5)
    await new_run(store, [queued("mid", t - 20), waiting("mid-timer", t - 25)], priority=1)
    await set_run(store, high, status=RunStatus.RUNNING)
    await new_run(store, [queued("low-late", t - 10)], priority=0)
    order = ["high-timer", "high-late", "mid-timer", "mid", "low-early", "low-late"]
    # Which rows a limited claim takes, and the order it returns them in.
    assert [c.row.step_id for c in await claim(store, limit=3)] == order[:3]
    assert [c.row.step_id for c in await claim(store, limit=10)] == order[3:]


async def test_claim_takes_at_most_limit_rows(store: Store, clock: FakeClock) -> None:
    await new_run(store, [queued(f"s{i}", clock()) for i in range(5)])
    assert len(await claim(store, limit=2)) == 2
    assert len(await claim(store, limit=2)) == 2
    assert len(await claim(store, limit=2)) == 1


async def test_each_claim_leases_with_a_new_token(store: Store, clock: FakeClock) -> None:
    await new_run(store, [queued(f"s{i}", clock()) for i in range(3)])
    tokens = [c.token for _ in range(3) for c in await claim(store, limit=1)]
    assert len(set(tokens)) == 3


async def test_a_claimed_row_is_not_claimed_again_while_its_lease_runs(
    store: Store, clock: FakeClock
) -> None:
    await new_run(store, [queued("a", clock())])
    assert len(await claim(store, "one", lease=10)) == 1
    clock.advance(60)  # even expired: a lease is taken back by reaping it, never by a claim
    assert await claim(store, "two") == []


@pytest.mark.parametrize("clock_of", ["test", "real"])
async def test_work_made_ready_earlier_in_the_transaction_is_claimable(
    database_url: str, clock_of: str
) -> None:
    # Also on the real clock, which moves between the write and the claim: a claim's "now"
    # is when it is made, not when its transaction began.
    clock = time.time if clock_of == "real" else FakeClock()
    database = DatabaseURL.parse(database_url)
    migrate.apply(database)
    async with create_store(database, clock=clock, pool_size=POOL_SIZE) as store:
        await claimable_in_the_same_transaction(store, clock)


async def claimable_in_the_same_transaction(store: Store, clock: Callable[[], float]) -> None:
    run_id = await new_run(store, [NewStep("a"), NewStep("b")])
    async with store.transaction() as txn:
        [a] = await txn.step_rows(run_id, ["a"])
        await txn.update_step(a.id, status=StepStatus.QUEUED, available_at=clock())
        await asyncio.sleep(0.002)
        claimed = await txn.claim("me", 10, 30.0)
        assert [(c.row.step_id, c.row.status, c.row.attempt) for c in claimed] == [("a", "running", 1)]
        # ... and reads after the claim in the same transaction see it.
        assert getattr(await txn.get_step(a.id), "status", None) == "running"
        assert getattr(await txn.lock_run(run_id), "status", None) == "running"
    run, rows = await run_of(store, run_id)
    assert run.status == "running"
    assert {s: r.status for s, r in rows.items()} == {"a": "running", "b": "pending"}


async def test_concurrent_claims_never_hold_a_row_twice(
    store: Store, open_store: OpenStore, clock: FakeClock
) -> None:
    for n in range(6):
        await new_run(store, [queued(f"s{i}", clock()) for i in range(5)], priority=n % 2)

    async with open_store() as other:
        claims = await asyncio.gather(
            *(claim(on, f"owner-{k}", limit=3) for k in range(6) for on in (store, other))
        )
        claims.append(await claim(store, "last", limit=100))
    held = [c.row.id for batch in claims for c in batch]
    assert len(held) == len(set(held)) == 30
    for batch in claims:
        # Every row a claim returned is leased to that claim's owner and token.
        for c in batch:
            _, rows = await run_of(store, c.row.run_id)
            [current] = [r for r in rows.values() if r.id == c.row.id]
            assert (current.lease_owner, current.lease_token) == (c.row.lease_owner, c.token)


async def test_due_timers_are_taken_earliest_first_whatever_their_priority(
    store: Store, clock: FakeClock
) -> None:
    t = clock()
    await new_run(store, [waiting("low-early", t - 10)], priority=0)
    await new_run(store, [waiting("high-late", t - 1)], priority=9)
    await new_run(store, [queued("queued-mid", t)], priority=5)
    # The timers' index has no priority: of many due timers, a claim considers the earliest.
    assert [c.row.step_id for c in await claim(store, limit=1)] == ["queued-mid"]
    assert [c.row.step_id for c in await claim(store, limit=1)] == ["low-early"]
    assert [c.row.step_id for c in await claim(store, limit=1)] == ["high-late"]

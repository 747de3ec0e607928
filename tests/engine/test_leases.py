"""Leases: an expired lease is a lost attempt, not a failed one. It ends `lost` in the step's
history with the instance that held it, and the step is queued again at once without
spending its retries; `on_lost: fail` and the poison-step brake (lost too many times in a
row) fail the step instead. The outcome of the attempt that lost its lease is rejected, so a
completion is recorded once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from executor import migrate
from executor.actions import Succeeded
from executor.engine import Engine
from executor.errors import StoreError
from executor.statuses import StepStatus
from executor.store import Store, create_store
from executor.store.url import DatabaseURL
from executor.workflow import parse_workflow
from tests.support.databases import POOL_SIZE
from tests.support.engine import running_engine
from tests.support.waiting import async_wait_until

FLOW = """
name: leased
steps:
  - id: work
    action: shell
    with: {command: "echo attempt $EXECUTOR_ATTEMPT"}
    outputs: {said: "{{ result.stdout | trim }}"}
"""


@asynccontextmanager
async def opened(database_url: str) -> AsyncIterator[Store]:
    database = DatabaseURL.parse(database_url)
    migrate.apply(database)
    store = create_store(database, pool_size=POOL_SIZE)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def stalled(store: Store, name: str, max_lost_attempts: int = 3) -> Engine:
    """An engine that claims and then never runs nor renews: an instance that froze."""
    return Engine(
        store,
        instance_id=name,
        concurrency=16,
        poll_interval=1.0,
        lease=0.3,
        max_lost_attempts=max_lost_attempts,
        secrets={},
    )


async def expire(engine: Engine, store: Store) -> None:
    """Wait until a lease has expired, then reap it with ``engine``'s lease upkeep."""
    deadline = time.monotonic() + 10
    while not await store.expired_leases(10):
        assert time.monotonic() < deadline, "no lease expired"
        await asyncio.sleep(0.05)
    await engine.leases.reap()


async def test_a_lost_attempt_is_queued_again_without_spending_a_retry(database_url: str) -> None:
    async with opened(database_url) as store:
        frozen = stalled(store, "frozen")
        await frozen.register(parse_workflow(FLOW), FLOW)  # one attempt allowed (the default)
        run, _ = await frozen.submit("leased")
        [claimed] = await frozen.claim(1)
        async with running_engine(database_url, lease=0.3, migrated=True) as live:
            run, steps = await live.wait(run.id)
            assert run.status == "succeeded", run.error
            work = steps["work"]
            assert (work.attempt, work.output) == (2, {"said": "attempt 2"})
            assert work.history is not None
            lost, succeeded = work.history
            assert (lost["attempt"], lost["outcome"], lost["instance"], lost["reason"]) == (
                1,
                "lost",
                "frozen",
                "lease expired",
            )
            assert (succeeded["attempt"], succeeded["outcome"]) == (2, "succeeded")
            assert succeeded["instance"] == live.engine.instance_id
            # The frozen engine wakes up and reports: rejected, nothing changes.
            await frozen._record(claimed, Succeeded("late"))
            _, rows = await live.engine.get(run.id)
            assert [(r.status, r.output, r.attempt) for r in rows] == [
                ("succeeded", {"said": "attempt 2"}, 2)
            ]


async def test_lost_attempts_do_not_count_against_max_attempts(database_url: str) -> None:
    flow = """
name: budget
steps:
  - id: work
    action: shell
    retry: {max_attempts: 2, delay: 10ms}
    with: {command: 'test "$EXECUTOR_ATTEMPT" != 2'}
"""
    async with opened(database_url) as store:
        frozen = stalled(store, "frozen")
        await frozen.register(parse_workflow(flow), flow)
        run, _ = await frozen.submit("budget")
        await frozen.claim(1)
        async with running_engine(database_url, lease=0.3, migrated=True) as live:
            run, steps = await live.wait(run.id)
        assert run.status == "succeeded", "attempt 2 failed, attempt 3 ran: the lost one was not counted"
        history = steps["work"].history or []
        assert [(h["attempt"], h["outcome"]) for h in history] == [
            (1, "lost"),
            (2, "failed"),
            (3, "succeeded"),
        ]
        assert "exit code 1" in history[1]["error"]


async def test_on_lost_fail_fails_the_step_on_a_lost_attempt(database_url: str) -> None:
    flow = """
name: once
steps:
  - id: pay
    action: shell
    on_lost: fail
    retry: {max_attempts: 3}
    with: {command: "true"}
"""
    async with opened(database_url) as store:
        frozen, reaper = stalled(store, "frozen"), stalled(store, "reaper")
        await frozen.register(parse_workflow(flow), flow)
        run, _ = await frozen.submit("once")
        await frozen.claim(1)
        await expire(reaper, store)
        found = await store.get_run(run.id)
        assert found is not None
        run, [pay] = found
        assert (run.status, pay.status, pay.attempt) == ("failed", "failed", 1)
        assert pay.error is not None and "on_lost: fail" in pay.error and "frozen" in pay.error
        assert [(h["outcome"], h["instance"]) for h in pay.history or []] == [("lost", "frozen")]


async def test_a_step_lost_too_many_times_in_a_row_fails_naming_the_instances(database_url: str) -> None:
    # A template: the step is claimed, not run in the submitting transaction (`engine.inline`).
    text = "name: poison\nsteps:\n  - {id: a, action: noop, with: {output: \"{{ 'ok' }}\"}}\n"
    async with opened(database_url) as store:
        reaper = stalled(store, "reaper", max_lost_attempts=3)
        await reaper.register(parse_workflow(text), text)
        run, _ = await reaper.submit("poison")
        for name in ("vm-1", "vm-2", "vm-3"):
            [claimed] = await stalled(store, name).claim(1)
            assert claimed.row.attempt == int(name[-1])
            await expire(reaper, store)
        found = await store.get_run(run.id)
        assert found is not None
        run, [a] = found
        assert (run.status, a.status) == ("failed", "failed")
        assert a.error is not None
        assert "lost its executor 3 times in a row" in a.error
        assert "vm-1, vm-2, vm-3" in a.error
        assert [h["outcome"] for h in a.history or []] == ["lost"] * 3


async def test_a_lease_is_renewed_while_the_attempt_runs(database_url: str) -> None:
    async with running_engine(database_url, lease=0.3) as harness:
        run_id = await harness.submit("""
name: longer_than_lease
steps:
  - {id: slow, action: shell, with: {command: "sleep 1.5"}}
""")
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["slow"].attempt == 1, "renewals kept the lease: no attempt was lost"


async def test_a_drain_hands_an_attempt_back_as_lost_but_fails_an_on_lost_fail_step(
    database_url: str, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    flow = f"""
name: drained
steps:
  - {{id: again, action: shell, with: {{command: "touch {markers}/again; sleep 30"}}}}
  - {{id: once, action: shell, on_lost: fail, with: {{command: "touch {markers}/once; sleep 30"}}}}
"""
    async with running_engine(database_url) as harness:
        run_id = await harness.submit(flow)
        await async_wait_until(
            lambda: {p.name for p in markers.iterdir()} == {"again", "once"}, what="both commands to start"
        )
        assert await harness.engine.loop.drain(0) == 2
        _, rows = await harness.engine.get(run_id)
    steps = {row.step_id: row for row in rows}
    again, once = steps["again"], steps["once"]
    assert (again.status, again.attempt, again.lease_owner) == ("queued", 1, None)
    [entry] = again.history or []
    assert (entry["outcome"], entry["reason"], entry["instance"]) == (
        "lost",
        "drain",
        harness.engine.instance_id,
    )
    assert once.status == "failed"
    assert once.error is not None and "drain" in once.error and "on_lost: fail" in once.error
    assert [(h["outcome"], h["reason"]) for h in once.history or []] == [("lost", "drain")]


async def test_a_drain_starts_nothing_new_for_the_slots_it_frees(database_url: str, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    flow = f"""
name: one_slot
steps:
  - {{id: a, action: shell, with: {{command: "touch {markers}/a; sleep 0.5"}}}}
  - {{id: b, action: shell, on_lost: fail, with: {{command: "touch {markers}/b"}}}}
"""
    async with running_engine(database_url, concurrency=1) as harness:
        run_id = await harness.submit(flow)
        await async_wait_until(lambda: any(markers.iterdir()), what="one step to start")
        [first] = [p.name for p in markers.iterdir()]
        assert await harness.engine.loop.drain(10) == 0, "the running step finished within the drain"
        _, rows = await harness.engine.get(run_id)
    steps = {row.step_id: row for row in rows}
    other = "b" if first == "a" else "a"
    assert steps[first].status == "succeeded"
    # Its completion freed the only slot while draining: the other step was not started.
    assert (steps[other].status, steps[other].attempt, steps[other].history) == ("queued", 0, None)
    assert [p.name for p in markers.iterdir()] == [first]


async def test_a_database_error_while_a_step_reads_its_parameters_is_a_lost_attempt(
    database_url: str,
) -> None:
    # The fleet test cut every connection while a step rendered `{{ steps.a.output }}`: the
    # read failed and the step failed its run, for a fault that was the database's, not its own.
    flow = """
name: reads
steps:
  - {id: a, action: noop, with: {output: first}}
  - {id: b, action: noop, needs: [a], with: {output: "{{ steps.a.output }} then second"}}
"""
    async with running_engine(database_url, lease=0.3) as harness:
        store = harness.engine.store
        read = store.step_results
        failures = 0

        async def cut_once(run_id: str) -> dict[str, tuple[StepStatus, Any]]:
            nonlocal failures
            if failures == 0:  # the database's side of the boundary: the connection drops once
                failures += 1
                raise StoreError("database error: server closed the connection unexpectedly")
            return await read(run_id)

        store.step_results = cut_once  # type: ignore[method-assign]
        run_id = await harness.submit(flow)
        run, steps = await harness.wait(run_id)
    assert failures == 1
    assert run.status == "succeeded", run.error
    b = steps["b"]
    assert (b.output, b.attempt) == ("first then second", 2)
    assert [(h["attempt"], h["outcome"]) for h in b.history or []] == [(1, "lost"), (2, "succeeded")]

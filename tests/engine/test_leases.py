"""Leases: an expired lease is a failed attempt ("executor lost"), retried if allowed; the
outcome of the attempt that lost its lease is rejected, so a completion is recorded once."""

from __future__ import annotations

from executor import migrate
from executor.actions import Succeeded
from executor.engine import Engine
from executor.engine.events import RetryEvent
from executor.store import create_store
from executor.store.url import DatabaseURL
from executor.workflow import parse_workflow
from tests.support.databases import POOL_SIZE
from tests.support.engine import running_engine

FLOW = """
name: leased
steps:
  - id: work
    action: shell
    retry: {max_attempts: 2, delay: 10ms}
    with: {command: "echo attempt $EXECUTOR_ATTEMPT"}
    outputs: {said: "{{ result.stdout | trim }}"}
"""


async def test_a_lost_lease_is_retried_and_the_late_outcome_rejected(database_url: str) -> None:
    database = DatabaseURL.parse(database_url)
    migrate.apply(database)
    store = create_store(database, pool_size=POOL_SIZE)
    await store.open()
    try:
        # An engine claims the step and then stalls: it never runs it and never renews its
        # lease, like an instance that froze. No other engine runs yet.
        stalled = Engine(
            store, instance_id="stalled", concurrency=16, poll_interval=1.0, lease=0.3, secrets={}
        )
        workflow = parse_workflow(FLOW)
        await stalled.register(workflow, FLOW)
        run, _ = await stalled.submit("leased")
        [claimed] = await stalled.claim(1)
        async with running_engine(database_url, lease=0.3, migrated=True) as live:
            run, steps = await live.wait(run.id)
            assert run.status == "succeeded"
            assert steps["work"].attempt == 2
            assert steps["work"].output == {"said": "attempt 2"}
            lost = [e for e in live.events if isinstance(e, RetryEvent)]
            assert lost and "executor lost" in lost[0].error
            # The stalled engine wakes up and reports: rejected, nothing changes.
            await stalled._record(claimed, Succeeded("late"))
            _, rows = await live.engine.get(run.id)
            assert [(r.status, r.output, r.attempt) for r in rows] == [
                ("succeeded", {"said": "attempt 2"}, 2)
            ]
    finally:
        await store.close()


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


async def test_a_lost_lease_of_a_noop_costs_no_attempt(database_url: str) -> None:
    database = DatabaseURL.parse(database_url)
    migrate.apply(database)
    store = create_store(database, pool_size=POOL_SIZE)
    await store.open()
    try:
        stalled = Engine(
            store, instance_id="stalled", concurrency=16, poll_interval=1.0, lease=0.3, secrets={}
        )
        text = "name: pure\nsteps:\n  - {id: a, action: noop, with: {output: ok}}\n"
        await stalled.register(parse_workflow(text), text)
        run, _ = await stalled.submit("pure")
        [claimed] = await stalled.claim(1)
        async with running_engine(database_url, lease=0.3, migrated=True) as live:
            run, steps = await live.wait(run.id)
        assert (run.status, steps["a"].attempt, steps["a"].output) == ("succeeded", 1, "ok")
        assert claimed.row.attempt == 1
    finally:
        await store.close()

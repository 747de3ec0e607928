"""Steps run in process (`engine.inline`): a `noop` without templates runs in the transaction
that makes it ready, and leaves what a claimed attempt leaves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from executor.engine import inline
from executor.engine.events import AttemptEvent, StepEvent
from executor.engine.inline import BUDGET
from tests.support.engine import Harness
from tests.support.waiting import async_wait_until


def chain(name: str, length: int) -> str:
    lines = [f"name: {name}", "steps:", "  - {id: s0, action: noop, with: {output: 0}}"]
    lines += [
        f"  - {{id: s{i}, action: noop, needs: [s{i - 1}], with: {{output: {i}}}}}" for i in range(1, length)
    ]
    return "\n".join(lines) + "\n"


async def test_a_chain_of_noops_is_finished_when_its_submission_returns(harness: Harness) -> None:
    await harness.register(chain("short", 10))
    answered, created = await harness.engine.submit("short")
    run_id = answered.id
    # No wait: the submission's transaction ran every step and finished the run, and its
    # answer says so.
    run, rows = await harness.engine.get(run_id)
    assert run.status == "succeeded" and run.started_at is not None
    assert created and (answered.status, answered.outputs, answered.error) == ("succeeded", None, None)
    assert answered.started_at is not None and answered.finished_at is not None
    assert [(row.step_id, row.status, row.output, row.attempt) for row in rows] == [
        (f"s{i}", "succeeded", i, 1) for i in range(10)
    ]
    for row in rows:
        assert row.available_at is not None and row.started_at is not None and row.finished_at is not None
        assert row.lease_owner is None and row.lease_token is None
        [entry] = row.history or []
        assert (entry["attempt"], entry["outcome"], entry["instance"]) == (
            1,
            "succeeded",
            harness.engine.instance_id,
        )
        assert entry["started_at"] <= entry["ended_at"]
    assert harness.engine.loop.in_flight == 0
    # The events of a claimed attempt: queued, running, succeeded, and the attempt.
    s3 = [
        e
        for e in harness.events
        if getattr(e, "step_id", None) == "s3" and getattr(e, "run_id", "") == run_id
    ]
    assert [(type(e).__name__, getattr(e, "status", getattr(e, "outcome", None))) for e in s3] == [
        ("StepEvent", "queued"),
        ("StepEvent", "running"),
        ("StepEvent", "succeeded"),
        ("AttemptEvent", "succeeded"),
    ]
    attempt = s3[-1]
    assert isinstance(attempt, AttemptEvent) and (attempt.action, attempt.attempt) == ("noop", 1)


async def test_a_chain_longer_than_a_transaction_takes_goes_on_through_claims(harness: Harness) -> None:
    length = 2 * BUDGET + 7
    run_id = await harness.submit(chain("long", length))
    run, rows = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert all(row.status == "succeeded" and row.attempt == 1 for row in rows.values())
    assert rows[f"s{length - 1}"].output == length - 1
    # The submission ran BUDGET steps and queued the next; recording that one's claimed
    # attempt ran BUDGET more.
    claimed = [
        e.step_id
        for e in harness.events
        if isinstance(e, StepEvent) and e.run_id == run_id and e.status == "running" and e.waited is not None
    ]
    assert claimed == [f"s{BUDGET}", f"s{2 * BUDGET + 1}"]


async def test_a_for_each_of_noops_runs_every_item_in_order(harness: Harness) -> None:
    run_id = await harness.submit("""
name: fan
steps:
  - id: items
    action: noop
    for_each: "{{ range(1200) }}"
    concurrency: 100
  - {id: after, action: noop, needs: [items], outputs: {n: "{{ steps['items'].output | length }}"}}
""")
    run, rows = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert rows["items"].output == [None] * 1200
    assert [rows[f"items[{i}]"].status for i in range(1200)] == ["succeeded"] * 1200
    assert rows["items"].state is not None and rows["items"].state["done"] == 1200
    assert rows["after"].output == {"n": 1200}


async def test_a_paused_runs_noops_wait_for_its_resume(harness: Harness, tmp_path: Path) -> None:
    go = tmp_path / "go"
    run_id = await harness.submit(f"""
name: paused
steps:
  - {{id: gate, action: shell, with: {{command: "until [ -e {go} ]; do sleep 0.01; done"}}}}
  - {{id: after, action: noop, needs: [gate]}}
""")
    await harness.wait_step(run_id, "gate", "running")
    await harness.engine.pause(run_id)
    go.touch()
    await harness.wait_step(run_id, "gate", "succeeded")
    run, rows = await harness.engine.get(run_id)
    after = next(row for row in rows if row.step_id == "after")
    assert (run.status, after.status, after.attempt) == ("paused", "queued", 0)
    await harness.engine.resume(run_id)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and steps["after"].attempt == 1


async def test_templated_noops_are_claimed(harness: Harness) -> None:
    run_id = await harness.submit("""
name: templated
steps:
  - {id: a, action: noop, with: {output: "{{ 1 + 1 }}"}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and steps["a"].output == 2
    await async_wait_until(
        lambda: any(
            isinstance(e, StepEvent) and e.run_id == run_id and e.waited is not None for e in harness.events
        ),
        what="the claim's event",
    )


async def test_the_changes_of_one_transaction_share_its_budget(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Submitted together, the runs' submissions share one transaction (`GroupCommit`). With a
    # budget per change, 400 submissions of such chains ran 200,000 steps in one transaction
    # (SQLite's lock held a minute: other steps' leases ran out). One per transaction runs
    # what it allows and queues the other runs' first steps, to be claimed.
    monkeypatch.setattr(inline, "TRANSACTION_BUDGET", 2 * BUDGET)
    name = await harness.register(chain("together", BUDGET))
    submitted = await asyncio.gather(*(harness.engine.submit(name) for _ in range(8)))
    for run, _ in submitted:
        done, rows = await harness.wait(run.id)
        assert done.status == "succeeded", done.error
        assert all(row.attempt == 1 for row in rows.values())
    claimed = {
        e.run_id
        for e in harness.events
        if isinstance(e, StepEvent) and e.status == "running" and e.waited is not None
    }
    assert len(claimed) >= 6  # two runs in the submissions' transaction, the others claimed


async def test_a_noop_let_in_by_its_mutex_runs(harness: Harness, tmp_path: Path) -> None:
    # It waited in the key's line (`waiting`): let in, it is queued and claimed, not left
    # waiting for good as a step run in process only from pending.
    go = tmp_path / "go"
    holder = await harness.submit(f"""
name: holder
steps:
  - {{id: hold, action: shell, mutex: m, with: {{command: "until [ -e {go} ]; do sleep 0.01; done"}}}}
""")
    await harness.wait_step(holder, "hold", "running")
    waiter = await harness.submit("""
name: waiter
steps:
  - {id: n, action: noop, mutex: m}
  - {id: after, action: noop, needs: [n]}
""")
    await harness.wait_step(waiter, "n", "waiting")
    go.touch()
    run, rows = await harness.wait(waiter)
    assert run.status == "succeeded", run.error
    assert [(row.status, row.attempt) for row in rows.values()] == [("succeeded", 1)] * 2
    assert await harness.engine.store.run_places(waiter) == []

"""Durable sleeps, waits, signals and child runs; each across an engine restart too."""

from __future__ import annotations

import time

import pytest

from tests.support.checks import not_none
from tests.support.engine import Harness, running_engine

SLEEPER = """
name: sleeper
steps:
  - {id: nap, action: sleep, with: {duration: 1s}}
  - {id: after, action: noop, needs: [nap], with: {output: awake}}
"""

WAITER = """
name: waiter
steps:
  - {id: approve, action: wait, with: {signal: approve}}
  - {id: after, action: noop, needs: [approve], with: {output: "{{ steps.approve.output.by }}"}}
"""


async def test_a_sleep_holds_no_slot_and_survives_a_restart(database_url: str) -> None:
    async with running_engine(database_url, concurrency=1) as first:
        run_id = await first.submit(SLEEPER)
        started = time.time()
        await first.wait_step(run_id, "nap", "waiting")
        # One slot, held by nobody while the sleep waits: another run gets through.
        other = await first.submit("name: quick\nsteps:\n  - {id: q, action: noop}\n")
        run, _ = await first.wait(other, timeout=5)
        assert run.status == "succeeded"
    async with running_engine(database_url, migrated=True) as second:
        run, steps = await second.wait(run_id)
    assert run.status == "succeeded"
    assert not_none(steps["nap"].finished_at) - started >= 1.0
    assert steps["after"].output == "awake"


async def test_a_wait_survives_a_restart_and_takes_its_signal(database_url: str) -> None:
    async with running_engine(database_url) as first:
        run_id = await first.submit(WAITER)
        await first.wait_step(run_id, "approve", "waiting")
    async with running_engine(database_url, migrated=True) as second:
        assert await second.engine.signal(run_id, "approve", {"by": "ana"}) is True
        run, steps = await second.wait(run_id)
    assert run.status == "succeeded"
    assert steps["approve"].output == {"by": "ana"}
    assert steps["after"].output == "ana"


async def test_a_signal_sent_early_is_kept_and_delivered(harness: Harness) -> None:
    run_id = await harness.submit("""
name: early
steps:
  - {id: first, action: sleep, with: {duration: 300ms}}
  - {id: approve, action: wait, needs: [first], with: {signal: go}}
""")
    assert await harness.engine.signal(run_id, "go", {"n": 1}) is False, "nobody waits yet: kept"
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and steps["approve"].output == {"n": 1}


async def test_two_signals_two_waits_each_delivered_once(harness: Harness) -> None:
    run_id = await harness.submit("""
name: twice
steps:
  - {id: a, action: wait, with: {signal: go}}
  - {id: b, action: wait, needs: [a], with: {signal: go}}
""")
    await harness.wait_step(run_id, "a", "waiting")
    assert await harness.engine.signal(run_id, "go", 1) is True
    assert await harness.engine.signal(run_id, "go", 2) in (True, False)
    run, steps = await harness.wait(run_id)
    assert (steps["a"].output, steps["b"].output) == (1, 2)


async def test_a_signal_to_a_finished_run_is_refused(harness: Harness) -> None:
    from executor.errors import RunStateConflict

    run_id = await harness.submit("name: done\nsteps:\n  - {id: a, action: noop}\n")
    await harness.wait(run_id)
    with pytest.raises(RunStateConflict) as caught:
        await harness.engine.signal(run_id, "late", None)
    assert caught.value.status == "succeeded"


async def test_a_wait_times_out(harness: Harness) -> None:
    run_id = await harness.submit("""
name: impatient
steps:
  - {id: approve, action: wait, with: {signal: go, timeout: 300ms}}
""")
    run, steps = await harness.wait(run_id)
    assert steps["approve"].status == "failed" and "no signal 'go' arrived within 300ms" in not_none(
        steps["approve"].error
    )


CHILD = """
name: child
inputs: {type: object, properties: {n: {type: integer}}}
steps:
  - {id: double, action: noop, with: {output: "{{ inputs.n * 2 }}"}}
  - {id: check, action: shell, needs: [double], with: {command: "test {{ inputs.n }} -ne 13"}}
outputs:
  doubled: "{{ steps.double.output }}"
"""

PARENT = """
name: parent
inputs: {type: object, properties: {n: {type: integer, default: 4}}}
steps:
  - {id: call, action: workflow, with: {name: child, input: {n: "{{ inputs.n }}"}}}
  - {id: after, action: noop, needs: [call], with: {output: "{{ steps.call.output.doubled + 1 }}"}}
outputs:
  result: "{{ steps.after.output }}"
"""


async def test_a_child_workflow_gives_its_outputs(harness: Harness) -> None:
    await harness.register(CHILD)
    run_id = await harness.submit(PARENT)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": 9}
    child_id = steps["call"].state["child_run_id"]
    child, _ = await harness.engine.get(child_id)
    assert (child.status, child.parent_run_id) == ("succeeded", run_id)


async def test_a_failed_child_fails_the_step(harness: Harness) -> None:
    await harness.register(CHILD)
    await harness.register(PARENT)
    run_id = await harness.submit("parent", {"n": 13})
    run, steps = await harness.wait(run_id)
    assert steps["call"].status == "failed" and "child run" in not_none(steps["call"].error)
    assert run.status == "failed"


async def test_cancelling_the_parent_cancels_the_child(harness: Harness) -> None:
    await harness.register("""
name: slow_child
steps:
  - {id: wait, action: wait, with: {signal: never}}
""")
    run_id = await harness.submit("""
name: slow_parent
steps:
  - {id: call, action: workflow, with: {name: slow_child}}
""")
    row = await harness.wait_step(run_id, "call", "waiting")
    child_id = row.state["child_run_id"]
    await harness.wait_step(child_id, "wait", "waiting")
    await harness.engine.cancel(run_id)
    run, _ = await harness.wait(run_id)
    child, child_steps = await harness.wait(child_id)
    assert (run.status, child.status) == ("cancelled", "cancelled")
    assert child_steps["wait"].status == "cancelled"


async def test_a_workflow_may_start_itself(harness: Harness) -> None:
    run_id = await harness.submit("""
name: countdown
inputs: {type: object, properties: {n: {type: integer, default: 3}}}
steps:
  - {id: deeper, action: workflow, when: "{{ inputs.n > 0 }}", with: {name: countdown, input: {n: "{{ inputs.n - 1 }}"}}}
  - {id: here, action: noop, needs: [deeper], trigger_rule: all_done, with: {output: "{{ inputs.n }}"}}
outputs:
  n: "{{ steps.here.output }}"
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and run.outputs == {"n": 3}
    assert steps["deeper"].output == {"n": 2}


async def test_for_each_items_can_wait_for_their_own_signals(harness: Harness) -> None:
    run_id = await harness.submit("""
name: per_item
steps:
  - id: approve
    action: wait
    for_each: [a, b]
    with: {signal: "go-{{ item }}"}
    outputs: {item: "{{ item }}", payload: "{{ result }}"}
""")
    for name in ("go-b", "go-a"):
        await harness.engine.signal(run_id, name, name.upper())
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["approve"].output == [{"item": "a", "payload": "GO-A"}, {"item": "b", "payload": "GO-B"}]

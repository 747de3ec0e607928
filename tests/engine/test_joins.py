"""Partial joins ({min_success: N}, {min_done: N}), Airflow's none_failed_min_one_success,
and joins that cancel the needs still going (cancel_remaining), on both backends."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest

from tests.support.checks import not_none
from tests.support.engine import Harness
from tests.support.waiting import async_wait_until

# Three needs: `fast` succeeds at once, `broken` fails at once, `held` waits for a signal.
NEEDS = """
  - {id: fast, action: noop, with: {output: 1}}
  - {id: other, action: noop, with: {output: 2}}
  - {id: broken, action: shell, with: {command: "exit 4"}}
  - {id: held, action: wait, with: {signal: go}}
"""


def join(name: str, needs: str, rule: str) -> str:
    return f"""
name: {name}
steps:{NEEDS}
  - id: join
    action: noop
    needs: {needs}
    trigger_rule: {rule}
    with: {{output: "{{{{ steps.fast.output }}}}"}}
"""


async def test_min_success_runs_once_enough_needs_succeeded(harness: Harness) -> None:
    run_id = await harness.submit(join("two_of_three", "[fast, other, held]", "{min_success: 2}"))
    joined = await harness.wait_step(run_id, "join", "succeeded")
    assert joined.output == 1
    _, rows = await harness.engine.get(run_id)
    assert {r.step_id: r.status for r in rows}["held"] == "waiting", "the join did not wait for the third"
    await harness.engine.signal(run_id, "go")
    run, steps = await harness.wait(run_id)
    assert steps["held"].status == "succeeded"
    assert run.status == "failed" and "step broken failed" in not_none(run.error)


async def test_min_success_is_skipped_once_it_can_no_longer_happen(harness: Harness) -> None:
    run_id = await harness.submit(join("cannot", "[broken, fast, held]", "{min_success: 3}"))
    skipped = await harness.wait_step(run_id, "join", "skipped")
    assert skipped.error == "trigger rule min_success 3: at most 2 needs can succeed"
    await harness.engine.signal(run_id, "go")
    await harness.wait(run_id)


async def test_min_done_counts_failed_needs_as_done(harness: Harness) -> None:
    run_id = await harness.submit(join("done_two", "[broken, fast, held]", "{min_done: 2}"))
    await harness.wait_step(run_id, "join", "succeeded")
    await harness.engine.signal(run_id, "go")
    await harness.wait(run_id)


@pytest.mark.parametrize(
    ("needs", "expected"),
    [("[fast, skipped]", "succeeded"), ("[skipped]", "skipped"), ("[fast, broken]", "skipped")],
)
async def test_none_failed_min_one_success(harness: Harness, needs: str, expected: str) -> None:
    run_id = await harness.submit(f"""
name: nfmos
steps:
  - {{id: fast, action: noop}}
  - {{id: broken, action: shell, continue_on_error: false, with: {{command: "exit 4"}}}}
  - {{id: skipped, action: noop, when: false}}
  - {{id: join, action: noop, needs: {needs}, trigger_rule: none_failed_min_one_success}}
""")
    _, steps = await harness.wait(run_id)
    assert steps["join"].status == expected, steps["join"].error


async def test_cancel_remaining_stops_what_the_needs_still_run(harness: Harness, tmp_path: Path) -> None:
    """The first need to succeed starts the join; the others are cancelled whatever they are
    doing (a running command, a wait, a for_each's items, a step not started yet), a
    cancelled need fails nothing, and its own dependents follow their trigger rules."""
    pids = tmp_path / "pids"
    run_id = await harness.submit(f"""
name: discriminator
steps:
  - {{id: gate, action: wait, with: {{signal: open}}}}
  - {{id: quick, action: noop, needs: [gate], with: {{output: won}}}}
  - {{id: slow, action: shell, with: {{command: "echo $$ >> {pids}; exec sleep 300"}}}}
  - {{id: held, action: wait, with: {{signal: never}}}}
  - id: fan
    action: shell
    for_each: [1, 2, 3]
    concurrency: 2
    with: {{command: "echo $$ >> {pids}; exec sleep 300"}}
  - {{id: later, action: noop, needs: [held]}}
  - id: first
    action: noop
    needs: [quick, slow, held, fan, later]
    trigger_rule: one_success
    cancel_remaining: true
    with: {{output: "{{{{ steps.quick.output }}}}"}}
  - {{id: after_slow, action: noop, needs: [slow]}}
  - {{id: cleanup, action: noop, needs: [slow], trigger_rule: all_done}}
""")
    await async_wait_until(
        lambda: pids.exists() and len(pids.read_text().split()) == 3, what="three commands running"
    )
    await harness.engine.signal(run_id, "open")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["first"].output == "won"
    by = "cancelled by step first (cancel_remaining)"
    for step in ("slow", "held", "fan", "later", "fan[0]", "fan[1]", "fan[2]"):
        assert (steps[step].status, steps[step].error) == ("cancelled", by), step
    assert steps["after_slow"].status == "skipped"
    assert steps["cleanup"].status == "succeeded"
    for pid in map(int, pids.read_text().split()):
        await async_wait_until(partial(_gone, pid), what=f"command {pid} stopped")


async def test_cancel_remaining_with_a_partial_join(harness: Harness) -> None:
    run_id = await harness.submit("""
name: two_then_cancel
steps:
  - {id: a, action: noop}
  - {id: b, action: noop}
  - {id: c, action: wait, with: {signal: never}}
  - {id: join, action: noop, needs: [a, b, c], trigger_rule: {min_success: 2}, cancel_remaining: true}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["c"].status == "cancelled" and "cancelled by step join" in not_none(steps["c"].error)


async def test_a_join_skipped_by_when_cancels_nothing(harness: Harness) -> None:
    run_id = await harness.submit("""
name: no_cancel_when_skipped
steps:
  - {id: a, action: noop}
  - {id: c, action: wait, with: {signal: go}}
  - {id: join, action: noop, needs: [a, c], trigger_rule: one_success, when: false, cancel_remaining: true}
""")
    await harness.wait_step(run_id, "join", "skipped")
    await harness.engine.signal(run_id, "go")
    run, steps = await harness.wait(run_id)
    assert steps["c"].status == "succeeded" and run.status == "succeeded"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False

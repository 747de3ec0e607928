"""`for_each: {signal: line, until: done}`: an item per signal received, until another."""

from __future__ import annotations

from typing import Any

from executor.statuses import StepStatus
from tests.support.engine import Harness, running_engine
from tests.support.waiting import async_wait_until

LINES = """
name: lines
steps:
  - id: each
    for_each: {signal: line, until: done}
    action: noop
    with: {output: "{{ index }}:{{ item }}"}
  - {id: after, action: noop, needs: [each], with: {output: "{{ steps.each.output | length }}"}}
"""


async def items(harness: Harness, run_id: str, step: str = "each") -> dict[int, Any]:
    _, rows = await harness.engine.get(run_id)
    return {row.item_index: row for row in rows if row.step_id == step and row.item_index >= 0}


async def test_items_arrive_before_and_while_running_until_ends_it(harness: Harness) -> None:
    run_id = await harness.submit("""
name: late-lines
steps:
  - {id: gate, action: wait, with: {signal: open}}
  - id: each
    needs: [gate]
    for_each: {signal: line, until: done}
    action: noop
    with: {output: "{{ index }}:{{ item }}"}
""")
    await harness.wait_step(run_id, "gate", "waiting")
    assert await harness.engine.signal(run_id, "line", "a") is False, "kept until the step starts"
    assert await harness.engine.signal(run_id, "line", "b") is False
    await harness.engine.signal(run_id, "open")
    await harness.wait_step(run_id, "each", "running")
    assert await harness.engine.signal(run_id, "line", "c") is True
    await harness.engine.signal(run_id, "line", {"d": 4})
    await harness.wait_step(run_id, "each", "running")
    assert await harness.engine.signal(run_id, "done") is True
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["each"].output == ["0:a", "1:b", "2:c", "3:{'d': 4}"]


async def test_the_step_runs_while_no_until_came_even_with_every_item_done(harness: Harness) -> None:
    run_id = await harness.submit(LINES)
    await harness.wait_step(run_id, "each", "running")
    await harness.engine.signal(run_id, "line", "x")
    await harness.wait_step(run_id, "each", "running")
    await _wait_item(harness, run_id, 0, StepStatus.SUCCEEDED)
    run, steps = await harness.wait(run_id, {"running", "pending"})
    assert steps["each"].status == "running" and steps["after"].status == "pending"
    await harness.engine.signal(run_id, "done")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["each"].output == ["0:x"] and steps["after"].output == 1


async def test_until_with_no_item_succeeds_with_an_empty_list(harness: Harness) -> None:
    run_id = await harness.submit(LINES)
    await harness.wait_step(run_id, "each", "running")
    await harness.engine.signal(run_id, "done")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and steps["each"].output == [] and steps["after"].output == 0


async def test_signals_after_until_are_not_items_and_stay_kept(harness: Harness) -> None:
    run_id = await harness.submit("""
name: after-until
steps:
  - {id: gate, action: wait, with: {signal: open}}
  - {id: each, needs: [gate], for_each: {signal: line, until: done}, action: noop, with: {output: "{{ item }}"}}
  - {id: rest, needs: [each], action: wait, with: {signal: line}}
""")
    await harness.wait_step(run_id, "gate", "waiting")
    for name, payload in (("line", 1), ("done", None), ("line", 2)):
        await harness.engine.signal(run_id, name, payload)
    await harness.engine.signal(run_id, "open")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["each"].output == [1]
    assert steps["rest"].output == 2, "the line sent after done was left for another step"


async def test_concurrency_bounds_items_in_flight_and_queues_the_rest_in_order(harness: Harness) -> None:
    run_id = await harness.submit("""
name: bounded
steps:
  - id: each
    for_each: {signal: line, until: done}
    concurrency: 1
    action: wait
    with: {signal: "go-{{ item }}"}
""")
    await harness.wait_step(run_id, "each", "running")
    for n in range(3):
        await harness.engine.signal(run_id, "line", n)
    await harness.engine.signal(run_id, "done")
    rows = await items(harness, run_id)
    assert [rows[n].status for n in range(3)] in (
        [StepStatus.QUEUED, StepStatus.PENDING, StepStatus.PENDING],
        [StepStatus.RUNNING, StepStatus.PENDING, StepStatus.PENDING],
        [StepStatus.WAITING, StepStatus.PENDING, StepStatus.PENDING],
    )
    for n in range(3):
        await _wait_item(harness, run_id, n, StepStatus.WAITING)
        later = await items(harness, run_id)
        assert all(later[m].status == StepStatus.PENDING for m in range(n + 1, 3)), "one in flight at most"
        await harness.engine.signal(run_id, f"go-{n}", n * 10)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and steps["each"].output == [0, 10, 20]


async def _wait_item(harness: Harness, run_id: str, index: int, status: StepStatus) -> None:
    async def there() -> bool:
        row = (await items(harness, run_id)).get(index)
        return row is not None and row.status == status

    await async_wait_until(there, timeout=20, what=f"item {index} {status}")


async def test_a_failing_item_fails_the_step_once_until_came(harness: Harness) -> None:
    run_id = await harness.submit("""
name: failing-lines
steps:
  - id: each
    for_each: {signal: line, until: done}
    action: shell
    with: {command: "test {{ item }} -lt 2"}
""")
    await harness.wait_step(run_id, "each", "running")
    for n in (1, 5):
        await harness.engine.signal(run_id, "line", n)
    await _wait_item(harness, run_id, 1, StepStatus.FAILED)
    _, rows = await harness.engine.get(run_id)
    assert {r.step_id: r.status for r in rows if r.item_index < 0}["each"] == "running"
    await harness.engine.signal(run_id, "done")
    run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["each"].status == "failed" and (steps["each"].error or "").startswith("item 1 failed")


async def test_each_signal_is_one_item_across_two_engines(database_url: str) -> None:
    async with running_engine(database_url) as one, running_engine(database_url) as two:
        run_id = await one.submit(LINES)
        await one.wait_step(run_id, "each", "running")
        for n in range(20):
            await (one if n % 2 else two).engine.signal(run_id, "line", n)
        await two.engine.signal(run_id, "done")
        run, steps = await one.wait(run_id)
    assert run.status == "succeeded"
    assert steps["each"].output == [f"{n}:{n}" for n in range(20)]


async def test_items_keep_arriving_across_a_restart(database_url: str) -> None:
    async with running_engine(database_url) as first:
        run_id = await first.submit(LINES)
        await first.wait_step(run_id, "each", "running")
        await first.engine.signal(run_id, "line", "before")
    async with running_engine(database_url) as second:
        await second.engine.signal(run_id, "line", "after")
        await second.engine.signal(run_id, "done")
        run, steps = await second.wait(run_id)
    assert run.status == "succeeded" and steps["each"].output == ["0:before", "1:after"]


async def test_a_retried_run_collects_anew_without_the_signals_taken_before(harness: Harness) -> None:
    run_id = await harness.submit("""
name: retried-lines
steps:
  - id: each
    for_each: {signal: line, until: done}
    action: shell
    with: {command: "test {{ item }} -lt 2"}
""")
    await harness.wait_step(run_id, "each", "running")
    await harness.engine.signal(run_id, "line", 5)
    await harness.engine.signal(run_id, "done")
    run, _ = await harness.wait(run_id)
    assert run.status == "failed"
    await harness.engine.retry(run_id)
    await harness.wait_step(run_id, "each", "running")
    assert await items(harness, run_id) == {}, "the line taken before is not an item again"
    await harness.engine.signal(run_id, "line", 1)
    await harness.engine.signal(run_id, "done")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and [out["exit_code"] for out in steps["each"].output] == [0]


async def test_min_success_ends_the_step_and_later_lines_stay_kept(harness: Harness) -> None:
    run_id = await harness.submit("""
name: enough-lines
steps:
  - id: each
    for_each: {signal: line, until: done, min_success: 2}
    action: noop
    with: {output: "{{ item }}"}
  - {id: rest, needs: [each], action: wait, with: {signal: line}}
""")
    await harness.wait_step(run_id, "each", "running")
    await harness.engine.signal(run_id, "line", "a")
    await harness.engine.signal(run_id, "line", "b")
    await harness.wait_step(run_id, "each", "succeeded")
    await harness.engine.signal(run_id, "line", "c")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["each"].output == ["a", "b"] and steps["rest"].output == "c"


async def test_until_with_too_few_items_for_min_success_fails_the_step(harness: Harness) -> None:
    run_id = await harness.submit("""
name: too-few-lines
steps:
  - id: each
    for_each: {signal: line, until: done, min_success: 3}
    action: noop
    with: {output: "{{ item }}"}
""")
    await harness.wait_step(run_id, "each", "running")
    await harness.engine.signal(run_id, "line", "a")
    await _wait_item(harness, run_id, 0, StepStatus.SUCCEEDED)
    await harness.engine.signal(run_id, "done")
    run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["each"].error == "for_each min_success 3 can no longer be reached"


async def test_fail_fast_fails_at_the_first_failing_item_before_until(harness: Harness) -> None:
    run_id = await harness.submit("""
name: fast-lines
steps:
  - id: each
    for_each: {signal: line, until: done, fail_fast: true}
    action: shell
    with: {command: "test {{ item }} -lt 2"}
""")
    await harness.wait_step(run_id, "each", "running")
    await harness.engine.signal(run_id, "line", 7)
    run, steps = await harness.wait(run_id)
    assert run.status == "failed" and (steps["each"].error or "").startswith(
        "for_each fail_fast: item 0 failed"
    )

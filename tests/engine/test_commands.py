"""Cancel, pause, resume, retry; idempotent submits; the version a run executes."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.errors import InputInvalid, RunStateConflict, WorkflowNotFound
from tests.support.checks import not_none
from tests.support.engine import Harness


async def test_cancel_stops_running_steps_and_skips_the_rest(harness: Harness, tmp_path: Path) -> None:
    marker = tmp_path / "finished"
    run_id = await harness.submit(f"""
name: long
steps:
  - {{id: slow, action: shell, with: {{command: "sleep 30; touch {marker}"}}}}
  - {{id: after, action: noop, needs: [slow]}}
""")
    await harness.wait_step(run_id, "slow", "running")
    await harness.engine.cancel(run_id)
    run, steps = await harness.wait(run_id)
    assert run.status == "cancelled"
    assert steps["slow"].status == "cancelled" and steps["after"].status == "cancelled"
    assert not marker.exists()
    with pytest.raises(RunStateConflict):
        await harness.engine.cancel(run_id)


async def test_pause_holds_new_steps_and_resume_lets_them_go(harness: Harness) -> None:
    run_id = await harness.submit("""
name: pausable
steps:
  - {id: a, action: wait, with: {signal: go}}
  - {id: b, action: noop, needs: [a]}
""")
    await harness.wait_step(run_id, "a", "waiting")
    await harness.engine.pause(run_id)
    await harness.engine.signal(run_id, "go", None)
    run, steps = await harness.wait(run_id, {"paused"})
    await harness.wait_step(run_id, "b", "queued")
    with pytest.raises(RunStateConflict):
        await harness.engine.pause(run_id)
    await harness.engine.resume(run_id)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and steps["b"].status == "succeeded"
    with pytest.raises(RunStateConflict):
        await harness.engine.resume(run_id)


async def test_retry_reruns_failed_steps_and_keeps_succeeded_ones(harness: Harness, tmp_path: Path) -> None:
    counter, fixed = tmp_path / "count", tmp_path / "fixed"
    run_id = await harness.submit(f"""
name: retriable
steps:
  - {{id: once, action: shell, with: {{command: "echo x >> {counter}"}}}}
  - {{id: fragile, action: shell, needs: [once], with: {{command: "test -e {fixed}"}}}}
  - {{id: last, action: noop, needs: [fragile]}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "failed" and steps["last"].status == "skipped"
    fixed.touch()
    await harness.engine.retry(run_id)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert counter.read_text() == "x\n", "a succeeded step keeps its result and does not run again"
    assert steps["fragile"].attempt == 1 and steps["last"].status == "succeeded"
    with pytest.raises(RunStateConflict):
        await harness.engine.retry(run_id)


async def test_the_same_idempotency_key_gives_the_same_run(harness: Harness) -> None:
    name = await harness.register("name: keyed\nsteps:\n  - {id: a, action: noop}\n")
    first, created = await harness.engine.submit(name, {}, idempotency_key="k-1")
    again, created_again = await harness.engine.submit(name, {}, idempotency_key="k-1")
    assert created and not created_again and again.id == first.id
    other, created_other = await harness.engine.submit(name, {}, idempotency_key="k-2")
    assert created_other and other.id != first.id


async def test_a_run_keeps_the_version_it_started_with(harness: Harness) -> None:
    v1 = "name: versioned\nsteps:\n  - {id: w, action: wait, with: {signal: go}}\n  - {id: out, action: noop, needs: [w], with: {output: one}}\n"
    run_id = await harness.submit(v1)
    await harness.wait_step(run_id, "w", "waiting")
    await harness.register(v1.replace("output: one", "output: two"))
    assert await harness.engine.signal(run_id, "go") is True
    run, steps = await harness.wait(run_id)
    assert (run.workflow_version, steps["out"].output) == (1, "one")
    newer = await harness.submit("versioned")
    await harness.engine.signal(newer, "go")
    run, steps = await harness.wait(newer)
    assert (run.workflow_version, steps["out"].output) == (2, "two")


async def test_bad_submissions_change_nothing(harness: Harness) -> None:
    with pytest.raises(WorkflowNotFound):
        await harness.engine.submit("nope", {})
    name = await harness.register(
        "name: strict\ninputs: {type: object, required: [x], properties: {x: {type: integer}}}\nsteps:\n  - {id: a, action: noop}\n"
    )
    with pytest.raises(InputInvalid) as caught:
        await harness.engine.submit(name, {"x": "not a number"})
    assert caught.value.problems[0][0] == "$.x"


async def test_a_run_timeout_fails_the_run(harness: Harness) -> None:
    run_id = await harness.submit("""
name: bounded
timeout: 500ms
steps:
  - {id: forever, action: wait, with: {signal: never}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "failed" and "timed out" in not_none(run.error)
    assert steps["forever"].status == "cancelled"

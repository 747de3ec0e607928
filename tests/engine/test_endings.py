"""How runs end: `terminate` and `cancel` steps, `finally` steps, outputs of failed runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.errors import RunStateConflict
from tests.support.checks import not_none
from tests.support.engine import Harness

CHILD = """
name: child
steps:
  - {id: hold, action: wait, with: {signal: never}}
"""


def ending_workflow(status: str) -> str:
    return f"""
name: ends-{status}
steps:
  - {{id: slow, action: shell, with: {{command: "sleep 30"}}}}
  - {{id: kid, action: workflow, with: {{name: child}}}}
  - {{id: go, action: wait, with: {{signal: go}}}}
  - id: stop
    action: terminate
    needs: [go]
    with: {{status: {status}, message: "enough: {{{{ steps.go.output }}}}"}}
  - {{id: later, action: noop, needs: [slow]}}
outputs:
  said: "{{{{ steps.go.output }}}}"
  slow: "{{{{ steps.slow.status }}}}"
"""


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
async def test_terminate_ends_the_run_with_its_status_and_cancels_what_runs(
    harness: Harness, status: str
) -> None:
    await harness.register(CHILD)
    run_id = await harness.submit(ending_workflow(status))
    await harness.wait_step(run_id, "slow", "running")
    await harness.wait_step(run_id, "kid", "waiting")
    await harness.engine.signal(run_id, "go", "now")
    run, steps = await harness.wait(run_id)
    assert run.status == status
    assert run.error is not None and run.error.startswith("terminated by step stop: enough: now")
    assert steps["stop"].status == "succeeded"
    assert steps["stop"].output == {"status": status, "message": "enough: now"}
    assert {steps[s].status for s in ("slow", "kid", "later")} == {"cancelled"}
    children = await harness.engine.list_runs(parent=run_id)
    assert [child.status for child in children] == ["cancelled"]
    assert run.outputs == {"said": "now", "slow": "cancelled"}, "outputs are rendered whatever the status"


async def test_cancel_cancels_a_region_and_the_run_moves_on(harness: Harness) -> None:
    await harness.register(CHILD)
    run_id = await harness.submit("""
name: region
steps:
  - {id: slow, action: shell, with: {command: "sleep 30"}}
  - {id: each, action: wait, for_each: [1, 2], with: {signal: "item-{{ item }}"}}
  - {id: kid, action: workflow, with: {name: child}}
  - {id: pending, action: noop, needs: [slow]}
  - {id: go, action: wait, with: {signal: go}}
  - {id: cut, action: cancel, needs: [go], with: {steps: [slow, each, kid, pending]}}
  - {id: after, action: noop, needs: [slow]}
  - {id: anyway, action: noop, needs: [slow, each], trigger_rule: all_done}
""")
    await harness.wait_step(run_id, "slow", "running")
    await harness.wait_step(run_id, "kid", "waiting")
    await harness.wait_step(run_id, "each", "running")
    await harness.engine.signal(run_id, "go", None)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    for step in ("slow", "each", "each[0]", "each[1]", "kid", "pending"):
        assert steps[step].status == "cancelled", step
        assert steps[step].error == "cancelled by step cut", step
    assert steps["cut"].status == "succeeded"
    assert steps["after"].status == "skipped" and steps["anyway"].status == "succeeded"
    assert [child.status for child in await harness.engine.list_runs(parent=run_id)] == ["cancelled"]


def with_finally(main: str, timeout: str = "") -> str:
    return f"""
name: cleanup
{timeout}
steps:
{main}
finally:
  - id: report
    action: noop
    with:
      output: {{status: "{{{{ run.status }}}}", error: "{{{{ run.error }}}}", main: "{{{{ steps.main.status }}}}"}}
  - id: after_report
    action: noop
    needs: [report]
    for_each: ["{{{{ run.status }}}}"]
    with: {{output: "{{{{ item }}}}-{{{{ run.status }}}}"}}
"""


@pytest.mark.parametrize(
    ("main", "status", "error"),
    [
        ("  - {id: main, action: noop}", "succeeded", None),
        (
            "  - {id: main, action: shell, with: {command: 'exit 3'}}",
            "failed",
            "step main failed: command failed (exit code 3)",
        ),
        (
            "  - {id: main, action: terminate, with: {status: failed, message: no}}",
            "failed",
            "terminated by step main: no",
        ),
    ],
)
async def test_finally_steps_run_after_the_main_steps_and_see_the_ending(
    harness: Harness, main: str, status: str, error: str | None
) -> None:
    run_id = await harness.submit(with_finally(main))
    run, steps = await harness.wait(run_id)
    assert (run.status, run.error) == (status, error)
    assert steps["report"].output["status"] == status
    assert steps["report"].output["error"] == error
    assert steps["report"].output["main"] == steps["main"].status
    assert steps["after_report"].output == [f"{status}-{status}"]
    assert not_none(steps["report"].started_at) >= not_none(steps["main"].finished_at)


async def test_an_operator_cancel_runs_finally_and_a_second_cancel_is_hard(harness: Harness) -> None:
    run_id = await harness.submit("""
name: cancelled-cleanup
steps:
  - {id: main, action: wait, with: {signal: never}}
finally:
  - {id: report, action: noop, with: {output: "{{ run.status }}: {{ run.error }}"}}
  - {id: hold, action: wait, needs: [report], with: {signal: release}}
""")
    await harness.wait_step(run_id, "main", "waiting")
    await harness.engine.cancel(run_id)
    await harness.wait_step(run_id, "hold", "waiting")
    run, steps = await harness.wait(run_id, {"running"})
    assert steps["main"].status == "cancelled" and steps["report"].output == "cancelled: cancelled"
    assert run.error == "cancelled", "while finally steps run, the run says how it is about to end"
    await harness.engine.cancel(run_id)
    run, steps = await harness.wait(run_id)
    assert run.status == "cancelled" and steps["hold"].status == "cancelled"
    with pytest.raises(RunStateConflict):
        await harness.engine.cancel(run_id)


async def test_a_run_that_times_out_runs_finally(harness: Harness) -> None:
    run_id = await harness.submit(
        with_finally("  - {id: main, action: shell, with: {command: 'sleep 30'}}", "timeout: 1s")
    )
    run, steps = await harness.wait(run_id)
    assert (run.status, run.error) == ("failed", "run timed out (timeout 1s)")
    assert steps["main"].status == "cancelled"
    assert steps["report"].output["error"] == "run timed out (timeout 1s)"


async def test_a_failing_finally_step_fails_a_succeeded_run_but_not_another_ending(harness: Harness) -> None:
    ok = await harness.submit("""
name: bad-cleanup
steps:
  - {id: main, action: noop}
finally:
  - {id: broken, action: shell, with: {command: "exit 2"}}
""")
    run, _ = await harness.wait(ok)
    assert (run.status, run.error) == ("failed", "finally step broken failed: command failed (exit code 2)")
    failed = await harness.submit("""
name: bad-cleanup-of-failure
steps:
  - {id: main, action: shell, with: {command: "exit 1"}}
finally:
  - {id: broken, action: shell, with: {command: "exit 2"}}
""")
    run, _ = await harness.wait(failed)
    assert (run.status, run.error) == ("failed", "step main failed: command failed (exit code 1)")


async def test_terminate_in_finally_ends_the_run_at_once(harness: Harness) -> None:
    run_id = await harness.submit("""
name: finally-terminates
steps:
  - {id: main, action: shell, with: {command: "exit 1"}}
finally:
  - {id: hold, action: wait, with: {signal: never}}
  - {id: decide, action: terminate, with: {status: succeeded, message: "cleaned up"}}
""")
    run, steps = await harness.wait(run_id)
    assert (run.status, run.error) == ("succeeded", "terminated by step decide: cleaned up")
    assert steps["hold"].status == "cancelled"


async def test_a_retried_run_runs_its_finally_steps_again(harness: Harness, tmp_path: Path) -> None:
    fixed, log = tmp_path / "fixed", tmp_path / "log"
    run_id = await harness.submit(f"""
name: retried-cleanup
steps:
  - {{id: main, action: shell, with: {{command: "test -e {fixed}"}}}}
finally:
  - {{id: note, action: shell, with: {{command: "echo {{{{ run.status }}}} >> {log}"}}}}
""")
    run, _ = await harness.wait(run_id)
    assert run.status == "failed"
    fixed.touch()
    await harness.engine.retry(run_id)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert log.read_text() == "failed\nsucceeded\n"


async def test_a_failed_run_keeps_the_outputs_it_can_render(harness: Harness) -> None:
    run_id = await harness.submit("""
name: partial
steps:
  - {id: ok, action: noop, with: {output: {version: "1.2"}}}
  - {id: bad, action: shell, needs: [ok], with: {command: "exit 4"}}
outputs:
  version: "{{ steps.ok.output.version }}"
  report: "{{ steps.bad.output.url }}"
""")
    run, _ = await harness.wait(run_id)
    assert run.status == "failed"
    assert run.outputs == {"version": "1.2"}
    assert run.error is not None
    first, *rest = run.error.split("\n")
    assert first == "step bad failed: command failed (exit code 4)"
    assert len(rest) == 1 and rest[0].startswith("outputs.report: {{ steps.bad.output.url }}")


async def test_cancelling_a_paused_run_resumes_it_for_its_finally_steps(harness: Harness) -> None:
    run_id = await harness.submit("""
name: paused-cleanup
steps:
  - {id: main, action: wait, with: {signal: never}}
finally:
  - {id: report, action: noop, with: {output: "{{ run.status }}"}}
""")
    await harness.wait_step(run_id, "main", "waiting")
    await harness.engine.pause(run_id)
    await harness.engine.cancel(run_id)
    run, steps = await harness.wait(run_id)
    assert (run.status, run.error) == ("cancelled", "cancelled")
    assert steps["report"].output == "cancelled"


async def test_a_run_failed_by_its_finally_step_is_retried(harness: Harness, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed"
    run_id = await harness.submit(f"""
name: retried-finally
steps:
  - {{id: main, action: noop}}
finally:
  - {{id: clean, action: shell, with: {{command: "test -e {fixed}"}}}}
  - {{id: note, action: noop, needs: [clean], with: {{output: "{{{{ run.status }}}}"}}}}
""")
    run, _ = await harness.wait(run_id)
    assert run.status == "failed" and run.error is not None and run.error.startswith("finally step clean")
    fixed.touch()
    await harness.engine.retry(run_id)
    run, steps = await harness.wait(run_id)
    assert (run.status, run.error) == ("succeeded", None)
    assert steps["main"].attempt == 1, "a succeeded main step is not run again"
    assert steps["clean"].status == "succeeded" and steps["note"].output == "succeeded"


async def test_an_operator_retries_a_finally_step_for_the_same_ending(
    harness: Harness, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed"
    run_id = await harness.submit(f"""
name: retried-finally-step
steps:
  - {{id: main, action: wait, with: {{signal: go}}}}
finally:
  - {{id: clean, action: shell, with: {{command: "test -e {fixed}"}}}}
  - {{id: note, action: noop, needs: [clean], with: {{output: "{{{{ run.status }}}}"}}}}
""")
    await harness.wait_step(run_id, "main", "waiting")
    with pytest.raises(RunStateConflict, match="finally step clean has not started"):
        await harness.engine.retry_step(run_id, "clean")
    await harness.engine.signal(run_id, "go", None)
    run, steps = await harness.wait(run_id)
    assert run.status == "failed" and steps["note"].status == "skipped"
    fixed.touch()
    await harness.engine.retry_step(run_id, "clean")
    run, steps = await harness.wait(run_id)
    assert (run.status, run.error) == ("succeeded", None)
    assert steps["main"].attempt == 1 and steps["clean"].attempt == 2
    assert steps["note"].output == "succeeded", "it ran again for the ending it ran for"


async def test_a_goto_among_finally_steps_runs_them_again(harness: Harness) -> None:
    run_id = await harness.submit("""
name: finally-goto
steps:
  - {id: main, action: noop}
finally:
  - {id: clean, action: noop, with: {output: "{{ run.status }}"}}
  - {id: check, action: noop, needs: [clean], goto: {step: clean, max: 2}}
""")
    run, steps = await harness.wait(run_id)
    assert (run.status, run.error) == ("succeeded", None)
    assert steps["clean"].attempt == 3 and steps["check"].attempt == 3
    assert steps["clean"].output == "succeeded"


KEY_HOLDER = """
name: key-holder
concurrency: {key: ending-key}
steps:
  - {id: hold, action: wait, with: {signal: go}}
"""


@pytest.mark.parametrize(("how", "status", "error"), [
    ("cancel", "cancelled", "cancelled"),
    ("timeout", "failed", "run timed out (timeout 1s)"),
])  # fmt: skip
async def test_a_run_waiting_for_its_concurrency_key_ends_at_once_without_finally(
    harness: Harness, how: str, status: str, error: str
) -> None:
    holder = await harness.submit(KEY_HOLDER)
    await harness.wait_step(holder, "hold", "waiting")
    run_id = await harness.submit(f"""
name: key-waiter
concurrency: {{key: ending-key}}
timeout: {"1s" if how == "timeout" else "1h"}
steps:
  - {{id: main, action: noop}}
finally:
  - {{id: clean, action: noop}}
""")
    if how == "cancel":
        await harness.engine.cancel(run_id)
    run, steps = await harness.wait(run_id)
    assert (run.status, run.error) == (status, error)
    assert steps["main"].status == "cancelled" and "clean" not in steps, "it started nothing to clean up"
    assert await harness.engine.places((await harness.engine.get(run_id))[0]) == ([], {}), (
        "it left the key's line"
    )
    await harness.engine.signal(holder, "go", None)
    assert (await harness.wait(holder))[0].status == "succeeded"


async def test_a_main_step_is_not_retried_while_finally_steps_run(harness: Harness, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed"
    run_id = await harness.submit(f"""
name: retry-during-finally
steps:
  - {{id: main, action: shell, with: {{command: "test -e {fixed}"}}}}
finally:
  - {{id: clean, action: wait, with: {{signal: go}}}}
""")
    await harness.wait_step(run_id, "clean", "waiting")
    fixed.touch()
    with pytest.raises(RunStateConflict, match="runs its finally steps"):
        await harness.engine.retry_step(run_id, "main")
    await harness.engine.signal(run_id, "go", None)
    run, _ = await harness.wait(run_id)
    assert (run.status, run.error) == ("failed", "step main failed: command failed (exit code 1)")
    await harness.engine.retry_step(run_id, "main")  # once failed, as documented
    await harness.engine.signal(run_id, "go", None)
    run, steps = await harness.wait(run_id)
    assert (run.status, run.error) == ("succeeded", None)
    assert steps["main"].status == "succeeded" and steps["clean"].status == "succeeded"


async def test_cancel_running_lets_the_cancelled_holder_run_its_finally_steps(harness: Harness) -> None:
    workflow = """
name: deploy-latest
concurrency: {key: deploy, policy: cancel_running}
steps:
  - {id: deploy, action: wait, with: {signal: go}}
finally:
  - {id: unlock, action: wait, with: {signal: unlock}}
"""
    first = await harness.submit(workflow)
    await harness.wait_step(first, "deploy", "waiting")
    second = await harness.submit("deploy-latest")
    await harness.wait_step(first, "unlock", "waiting")
    run, steps = await harness.wait(first, {"running"})
    assert run.error is not None and run.error.startswith(f"cancelled by run {second}")
    assert steps["deploy"].status == "cancelled"
    third = await harness.submit("deploy-latest")  # the holder's cleanup is not cut short
    assert (await harness.engine.get(second))[0].status == "cancelled"
    mine, _ = await harness.engine.places((await harness.engine.get(third))[0])
    assert [place.holding for place in mine] == [False], "it waits for the holder's finally steps"
    await harness.engine.signal(first, "unlock", None)
    run, steps = await harness.wait(first)
    assert run.status == "cancelled" and steps["unlock"].status == "succeeded"
    await harness.wait_step(third, "deploy", "waiting")

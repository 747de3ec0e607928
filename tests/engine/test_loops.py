"""`repeat` loops and `goto` back-transitions, on both backends."""

from __future__ import annotations

from pathlib import Path

from tests.support.checks import not_none
from tests.support.engine import Harness


async def test_a_polling_loop_runs_until_its_condition_holds(harness: Harness, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    run_id = await harness.submit(f"""
name: poll
steps:
  - id: poll
    action: shell
    with: {{command: "echo x >> {counter}; wc -l < {counter}"}}
    outputs: {{seen: "{{{{ result.stdout | trim | int }}}}"}}
    repeat: {{until: "{{{{ result.seen >= 3 }}}}", max: 10, delay: 10ms}}
  - {{id: after, action: noop, needs: [poll], with: {{output: "{{{{ steps.poll.output.seen }}}}"}}}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["poll"].output == {"seen": 3}, "the output is the last iteration's"
    assert steps["after"].output == 3
    assert counter.read_text().count("x") == 3
    history = not_none(steps["poll"].history)
    assert [(e["attempt"], e.get("iteration", 0), e["outcome"]) for e in history] == [
        (1, 0, "succeeded"),
        (2, 1, "succeeded"),
        (3, 2, "succeeded"),
    ]


def iterations(history: list[dict[str, object]] | None) -> list[tuple[object, object, object]]:
    """(attempt, iteration, outcome) of each history entry; no ``iteration``: the first."""
    return [(e["attempt"], e.get("iteration", 0), e["outcome"]) for e in history or ()]


async def test_a_counted_loop_sees_its_index_and_the_previous_output(harness: Harness) -> None:
    run_id = await harness.submit("""
name: counted
steps:
  - id: count
    action: noop
    with: {output: "{{ loop.index * 10 }}"}
    outputs: {index: "{{ loop.index }}", value: "{{ result }}", previous: "{{ loop.previous }}"}
    repeat: {max: 3}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    first = {"index": 0, "value": 0, "previous": None}
    second = {"index": 1, "value": 10, "previous": first}
    assert steps["count"].output == {"index": 2, "value": 20, "previous": second}
    assert iterations(steps["count"].history) == [
        (1, 0, "succeeded"),
        (2, 1, "succeeded"),
        (3, 2, "succeeded"),
    ]


async def test_until_sees_the_result_and_the_loop(harness: Harness) -> None:
    run_id = await harness.submit("""
name: until_loop
steps:
  - id: grow
    action: noop
    with: {output: "{{ (loop.previous or 1) * 2 }}"}
    repeat: {until: "{{ result > 10 and loop.previous == result / 2 }}", max: 10}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["grow"].output == 16
    assert len(not_none(steps["grow"].history)) == 4


ON_MAX = """
name: on_max_{on_max}
steps:
  - id: poll
    action: noop
    with: {{output: "{{{{ loop.index }}}}"}}
    repeat: {{until: "{{{{ result > 100 }}}}", max: 2, on_max: {on_max}}}
  - {{id: after, action: noop, needs: [poll]}}
"""


async def test_reaching_max_fails_the_step_by_default(harness: Harness) -> None:
    run_id = await harness.submit(ON_MAX.format(on_max="fail"))
    run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["poll"].status == "failed"
    assert steps["poll"].error == "repeat: until was still false after 2 iterations (max 2)"
    assert steps["after"].status == "skipped"
    assert iterations(steps["poll"].history) == [(1, 0, "succeeded"), (2, 1, "failed")]


async def test_a_loop_failed_at_max_keeps_its_last_output_for_what_reads_it(harness: Harness) -> None:
    run_id = await harness.submit("""
name: last_poll
steps:
  - id: poll
    action: noop
    continue_on_error: true
    with: {output: {attempt: "{{ loop.index }}"}}
    repeat: {until: "{{ result.attempt > 100 }}", max: 3}
  - {id: report, action: noop, needs: [poll], with: {output: "{{ steps.poll.output.attempt }}"}}
finally:
  - {id: tidy, action: noop, with: {output: "{{ steps.poll.output.attempt }}"}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert (steps["poll"].status, steps["poll"].output) == ("failed", {"attempt": 2})
    assert steps["report"].output == 2 and steps["tidy"].output == 2


async def test_on_max_succeed_keeps_the_last_output(harness: Harness) -> None:
    run_id = await harness.submit(ON_MAX.format(on_max="succeed"))
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert (steps["poll"].status, steps["poll"].output) == ("succeeded", 1)
    assert steps["after"].status == "succeeded"


async def test_each_iteration_has_a_fresh_retry_budget(harness: Harness, tmp_path: Path) -> None:
    # Each iteration's first attempt fails, its second succeeds: 2 attempts a time, 3 times.
    run_id = await harness.submit(f"""
name: flaky_loop
steps:
  - id: flaky
    action: shell
    retry: {{max_attempts: 2, delay: 10ms}}
    with:
      command: "f={tmp_path}/tried-{{{{ loop.index }}}}; if [ -e $f ]; then echo ok; else touch $f; exit 1; fi"
    repeat: {{max: 3}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert iterations(steps["flaky"].history) == [
        (1, 0, "failed"),
        (2, 0, "succeeded"),
        (3, 1, "failed"),
        (4, 1, "succeeded"),
        (5, 2, "failed"),
        (6, 2, "succeeded"),
    ]


async def test_an_iteration_that_fails_fails_the_step(harness: Harness) -> None:
    run_id = await harness.submit("""
name: failing_loop
steps:
  - id: fragile
    action: shell
    with: {command: "test {{ loop.index }} -lt 1"}
    repeat: {max: 5}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["fragile"].status == "failed"
    assert iterations(steps["fragile"].history) == [(1, 0, "succeeded"), (2, 1, "failed")]


async def test_each_for_each_item_loops_on_its_own(harness: Harness) -> None:
    run_id = await harness.submit("""
name: item_loops
steps:
  - id: each
    action: noop
    for_each: [1, 3]
    with: {output: "{{ [item, loop.index] }}"}
    repeat: {until: "{{ loop.index + 1 >= item }}", max: 5}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["each"].output == [[1, 0], [3, 2]]
    assert len(not_none(steps["each[0]"].history)) == 1
    assert len(not_none(steps["each[1]"].history)) == 3


async def test_a_repeated_workflow_step_starts_a_child_run_per_iteration(harness: Harness) -> None:
    await harness.register("""
name: attempt_deploy
inputs: {type: object, properties: {n: {type: integer}}}
steps:
  - {id: prepare, action: noop, with: {output: "{{ inputs.n }}"}}
  - {id: check, action: noop, needs: [prepare], with: {output: "{{ steps.prepare.output >= 2 }}"}}
outputs: {healthy: "{{ steps.check.output }}", n: "{{ steps.prepare.output }}"}
""")
    run_id = await harness.submit("""
name: deploy_until_healthy
steps:
  - id: deploy
    action: workflow
    with: {name: attempt_deploy, input: {n: "{{ loop.index }}"}}
    repeat: {until: "{{ result.healthy }}", max: 5}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["deploy"].output == {"healthy": True, "n": 2}
    history = not_none(steps["deploy"].history)
    assert [(e.get("iteration", 0), e["outcome"]) for e in history] == [
        (0, "succeeded"),
        (1, "succeeded"),
        (2, "succeeded"),
    ]
    children = [str(e["child_run_id"]) for e in history]
    assert len(set(children)) == 3, "a new child run each iteration"
    for n, child_id in enumerate(children):
        child, child_steps = await harness.wait(child_id)
        assert (child.status, child.parent_run_id, child.input) == ("succeeded", run_id, {"n": n})
        assert child_steps["prepare"].output == n


GOTO = """
name: build_until_green
steps:
  - {{id: setup, action: shell, with: {{command: "echo setup >> {marks}/setup"}}}}
  - id: build
    action: shell
    needs: [setup]
    with: {{command: "echo build >> {marks}/build; wc -l < {marks}/build"}}
    outputs: {{n: "{{{{ result.stdout | trim | int }}}}"}}
  - {{id: side, action: shell, needs: [build], with: {{command: "echo side >> {marks}/side"}}}}
  - id: test
    action: noop
    needs: [build]
    with: {{output: "{{{{ steps.build.output.n >= {green_at} }}}}"}}
    goto: {{step: build, when: "{{{{ not result }}}}", max: 3{on_max}}}
  - {{id: ship, action: noop, needs: [test], with: {{output: "{{{{ steps.build.output.n }}}}"}}}}
"""


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


async def test_goto_runs_the_region_again_until_its_condition_ends(harness: Harness, tmp_path: Path) -> None:
    run_id = await harness.submit(GOTO.format(marks=tmp_path, green_at=3, on_max=""))
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["ship"].output == 3
    assert (lines(tmp_path / "setup"), lines(tmp_path / "build")) == (1, 3), "setup is outside the region"
    # `side` needs build but does not lead to test: it ran once, with build's first output.
    assert steps["side"].status == "succeeded"
    assert iterations(steps["build"].history) == [
        (1, 0, "succeeded"),
        (2, 1, "succeeded"),
        (3, 2, "succeeded"),
    ]
    assert iterations(steps["test"].history)[-1] == (3, 2, "succeeded")
    assert steps["test"].output is True
    assert steps["test"].state["loop"]["jumps"] == 2


async def test_goto_past_max_fails_the_step(harness: Harness, tmp_path: Path) -> None:
    run_id = await harness.submit(GOTO.format(marks=tmp_path, green_at=99, on_max=""))
    run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["test"].error == "goto build: when was still true after 3 jumps (max 3)"
    assert lines(tmp_path / "build") == 4, "the first run and three jumps"
    assert steps["ship"].status == "skipped"


async def test_goto_past_max_with_on_max_succeed_goes_on(harness: Harness, tmp_path: Path) -> None:
    run_id = await harness.submit(GOTO.format(marks=tmp_path, green_at=99, on_max=", on_max: succeed"))
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["ship"].output == 4


async def test_a_goto_without_when_is_taken_max_times(harness: Harness) -> None:
    run_id = await harness.submit("""
name: twice_more
steps:
  - {id: a, action: noop, with: {output: "{{ inputs }}"}}
  - {id: b, action: noop, needs: [a], goto: {step: a, max: 2}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert iterations(steps["a"].history) == [(1, 0, "succeeded"), (2, 1, "succeeded"), (3, 2, "succeeded")]
    assert iterations(steps["b"].history) == [(1, 0, "succeeded"), (2, 1, "succeeded"), (3, 2, "succeeded")]


async def test_goto_stops_what_still_runs_in_its_region(harness: Harness, tmp_path: Path) -> None:
    # `join` goes on once `fast` succeeded while `slow` still runs; its goto stops `slow`.
    started = tmp_path / "started"
    run_id = await harness.submit(f"""
name: partial_region
steps:
  - {{id: start, action: noop}}
  - id: slow
    action: shell
    needs: [start]
    with: {{command: "if [ -e {started} ]; then exit 0; fi; touch {started}; sleep 60"}}
  - id: fast
    action: shell
    needs: [start]
    # Once `slow` is under way: the goto below must stop it, not win the race to start it.
    with: {{command: "until [ -e {started} ]; do sleep 0.01; done"}}
  - id: join
    action: noop
    needs: [slow, fast]
    trigger_rule: one_success
    goto: {{step: start, max: 1}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["slow"].status == "succeeded"
    # Its first attempt was stopped (no outcome recorded), its second ran in the new iteration.
    assert iterations(steps["slow"].history) == [(2, 1, "succeeded")]
    assert not_none(steps["join"].state)["loop"]["jumps"] == 1


async def test_an_inner_goto_counts_afresh_in_each_outer_iteration(harness: Harness) -> None:
    run_id = await harness.submit("""
name: nested
steps:
  - {id: outer_start, action: noop}
  - {id: inner_start, action: noop, needs: [outer_start]}
  - {id: inner_end, action: noop, needs: [inner_start], goto: {step: inner_start, max: 2}}
  - {id: outer_end, action: noop, needs: [inner_end], goto: {step: outer_start, max: 1}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    # Two outer iterations, each running the inner region three times (the first and two jumps).
    assert len(not_none(steps["outer_start"].history)) == 2
    assert len(not_none(steps["inner_start"].history)) == 6
    assert len(not_none(steps["outer_end"].history)) == 2


async def test_a_repeated_wait_takes_a_new_signal_each_iteration(harness: Harness) -> None:
    run_id = await harness.submit("""
name: until_approved
steps:
  - id: review
    action: wait
    with: {signal: review}
    repeat: {until: "{{ result.approved }}", max: 3}
""")
    await harness.wait_step(run_id, "review", "waiting")
    assert await harness.engine.signal(run_id, "review", {"approved": False, "by": "bob"}) is True
    await harness.wait_step(run_id, "review", "waiting")
    assert await harness.engine.signal(run_id, "review", {"approved": True, "by": "ana"}) is True
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["review"].output == {"approved": True, "by": "ana"}
    assert [e.get("iteration", 0) for e in not_none(steps["review"].history)] == [0, 1]

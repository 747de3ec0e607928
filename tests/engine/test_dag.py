"""DAG order, trigger rules, when, outputs and the run's outcome."""

from __future__ import annotations

import pytest

from tests.support.checks import not_none
from tests.support.engine import Harness

DIAMOND = """
name: diamond
steps:
  - {id: a, action: noop, with: {output: 1}}
  - {id: b, action: noop, needs: [a], with: {output: "{{ steps.a.output + 1 }}"}}
  - {id: c, action: noop, needs: [a], with: {output: "{{ steps.a.output + 2 }}"}}
  - {id: d, action: noop, needs: [b, c], with: {output: "{{ [steps.b.output, steps.c.output] }}"}}
outputs:
  sum: "{{ steps.d.output | sum }}"
"""


async def test_a_diamond_runs_in_dependency_order(harness: Harness) -> None:
    run_id = await harness.submit(DIAMOND)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert run.outputs == {"sum": 5}
    assert steps["d"].output == [2, 3]
    assert not_none(steps["b"].started_at) >= not_none(steps["a"].finished_at)
    assert not_none(steps["c"].started_at) >= not_none(steps["a"].finished_at)
    assert not_none(steps["d"].started_at) >= max(
        not_none(steps["b"].finished_at), not_none(steps["c"].finished_at)
    )
    assert all(row.attempt == 1 for row in steps.values())


TRIGGER = """
name: trigger_{rule}
steps:
  - {{id: good, action: noop, with: {{output: ok}}}}
  - {{id: bad, action: shell, with: {{command: "exit 3"}}}}
  - {{id: skipped, action: noop, when: false}}
  - id: subject
    action: noop
    needs: {needs}
    trigger_rule: {rule}
    with: {{output: ran}}
"""


@pytest.mark.parametrize(
    ("rule", "needs", "expected"),
    [
        ("all_success", "[good]", "succeeded"),
        ("all_success", "[good, bad]", "skipped"),
        ("all_success", "[good, skipped]", "skipped"),
        ("all_done", "[good, bad, skipped]", "succeeded"),
        ("all_failed", "[bad]", "succeeded"),
        ("all_failed", "[bad, good]", "skipped"),
        ("one_success", "[bad, good]", "succeeded"),
        ("one_success", "[bad, skipped]", "skipped"),
        ("one_failed", "[good, bad]", "succeeded"),
        ("one_failed", "[good, skipped]", "skipped"),
        ("none_failed", "[good, skipped]", "succeeded"),
        ("none_failed", "[good, bad]", "skipped"),
    ],
)
async def test_trigger_rules(harness: Harness, rule: str, needs: str, expected: str) -> None:
    run_id = await harness.submit(TRIGGER.format(rule=rule, needs=needs))
    run, steps = await harness.wait(run_id)
    assert steps["subject"].status == expected, steps["subject"].error
    if expected == "skipped":
        assert "trigger rule" in not_none(steps["subject"].error)
    assert steps["bad"].status == "failed"
    assert run.status == "failed", "a step that failed for good fails the run"


async def test_when_false_skips_and_the_skip_cascades(harness: Harness) -> None:
    run_id = await harness.submit("""
name: when
inputs: {type: object, properties: {go: {type: boolean, default: false}}}
steps:
  - {id: gate, action: noop, when: "{{ inputs.go }}"}
  - {id: after, action: noop, needs: [gate]}
  - {id: cleanup, action: noop, needs: [after], trigger_rule: all_done}
""")
    run, steps = await harness.wait(run_id)
    assert (steps["gate"].status, steps["gate"].error) == ("skipped", "when was false")
    assert steps["after"].status == "skipped"
    assert steps["cleanup"].status == "succeeded"
    assert run.status == "succeeded"


async def test_continue_on_error_counts_as_success_downstream(harness: Harness) -> None:
    run_id = await harness.submit("""
name: tolerant
steps:
  - {id: flaky, action: shell, continue_on_error: true, with: {command: "echo nope >&2; exit 1"}}
  - {id: next, action: noop, needs: [flaky], with: {output: "{{ steps.flaky.status }}"}}
""")
    run, steps = await harness.wait(run_id)
    assert steps["flaky"].status == "failed" and "nope" in not_none(steps["flaky"].error)
    assert steps["next"].status == "succeeded" and steps["next"].output == "failed"
    assert run.status == "succeeded"


async def test_step_outputs_shape_the_result(harness: Harness) -> None:
    run_id = await harness.submit("""
name: shaped
steps:
  - id: build
    action: shell
    with: {command: "echo '{\\"version\\": \\"1.2.3\\"}'"}
    outputs: {version: "{{ result.json.version }}", code: "{{ result.exit_code }}"}
outputs:
  version: "{{ steps.build.output.version }}"
""")
    run, steps = await harness.wait(run_id)
    assert steps["build"].output == {"version": "1.2.3", "code": 0}
    assert run.outputs == {"version": "1.2.3"}


async def test_an_expression_error_fails_the_step_without_retry(harness: Harness) -> None:
    run_id = await harness.submit("""
name: broken
steps:
  - {id: a, action: noop, retry: {max_attempts: 5}, with: {output: "{{ inputs.missing.deeper }}"}}
""")
    run, steps = await harness.wait(run_id)
    assert steps["a"].status == "failed" and steps["a"].attempt == 1
    assert "missing" in not_none(steps["a"].error)
    assert run.status == "failed" and "step a failed" in not_none(run.error)


async def test_input_defaults_reach_the_steps(harness: Harness) -> None:
    run_id = await harness.submit(
        """
name: defaults
inputs:
  type: object
  required: [service]
  properties:
    service: {type: string}
    replicas: {type: integer, default: 2}
steps:
  - {id: a, action: noop, with: {output: "{{ inputs.service }}x{{ inputs.replicas }}"}}
""",
        {"service": "api"},
    )
    run, steps = await harness.wait(run_id)
    assert run.input == {"service": "api", "replicas": 2}
    assert steps["a"].output == "apix2"

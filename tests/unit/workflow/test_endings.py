"""The language of endings: `finally` steps, `terminate` and `cancel` steps, checked at load
with their paths and lines."""

from __future__ import annotations

import pytest

from executor.errors import WorkflowInvalid
from executor.workflow import Workflow, parse_workflow
from executor.workflow.lint import lint

VALID = """\
name: ends
steps:
  - {id: build, action: shell, with: {command: make}}
  - {id: stop, action: terminate, needs: [build], with: {status: "{{ inputs.how }}", message: why}}
  - {id: cut, action: cancel, needs: [build], with: {steps: [stop]}}
finally:
  - id: report
    action: noop
    with: {output: "{{ run.status }} {{ run.error }} {{ steps.build.status }}"}
  - {id: notify, action: noop, needs: [report], with: {output: "{{ steps.report.output }}"}}
  - {id: skip_notify, action: cancel, needs: [report], with: {steps: [notify]}}
"""


def problems_of(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, "test.yaml")
    return [(p.path, p.line, p.message) for p in caught.value.problems]


def test_finally_steps_parse_apart_from_the_main_steps_and_round_trip() -> None:
    workflow = parse_workflow(VALID)
    assert [step.id for step in workflow.steps] == ["build", "stop", "cut"]
    assert [step.id for step in workflow.finally_] == ["report", "notify", "skip_notify"]
    assert workflow.step("notify").needs == ("report",)
    assert [step.id for step in workflow.dependents("report")] == ["notify", "skip_notify"]
    assert Workflow.from_json(workflow.to_json()) == workflow


def test_a_workflow_without_finally_keeps_its_digest_keys() -> None:
    workflow = parse_workflow("name: plain\nsteps:\n  - {id: a, action: noop}\n")
    assert "finally" not in workflow.to_json()


CASES = [
    (
        "finally-needs-main",
        "name: w\nsteps:\n  - {id: a, action: noop}\nfinally:\n  - {id: f, action: noop, needs: [a]}\n",
        "finally[0].needs[0]",
        5,
        "'a' is a step of steps; a finally step cannot need it",
    ),
    (
        "main-needs-finally",
        "name: w\nsteps:\n  - {id: a, action: noop, needs: [f]}\nfinally:\n  - {id: f, action: noop}\n",
        "steps[0].needs[0]",
        3,
        "'f' is a finally step; a step of steps cannot need it",
    ),
    (
        "duplicate-across-sections",
        "name: w\nsteps:\n  - {id: a, action: noop}\nfinally:\n  - {id: a, action: noop}\n",
        "finally[0].id",
        5,
        "duplicate step id 'a' (first used by steps[0])",
    ),
    (
        "finally-not-a-list",
        "name: w\nsteps:\n  - {id: a, action: noop}\nfinally: {id: f}\n",
        "finally",
        4,
        "must be a list of steps",
    ),
    (
        "run-status-outside-finally",
        "name: w\nsteps:\n  - id: a\n    action: noop\n    with: {output: '{{ run.status }}'}\n",
        "steps[0].with.output",
        5,
        "run.status is only known in finally steps",
    ),
    (
        "run-unknown-field",
        "name: w\nsteps:\n  - {id: a, action: noop}\nfinally:\n  - id: f\n    action: noop\n"
        "    when: '{{ run.state }}'\n",
        "finally[0].when",
        7,
        "run has no 'state' (it has: id, workflow, status, error)",
    ),
    (
        "cancel-unknown-step",
        "name: w\nsteps:\n  - {id: a, action: noop}\n  - id: c\n    action: cancel\n    with:\n"
        "      steps:\n        - a\n        - b\n",
        "steps[1].with.steps[1]",
        9,
        "unknown step 'b'",
    ),
    (
        "cancel-itself",
        "name: w\nsteps:\n  - id: c\n    action: cancel\n    with:\n      steps:\n        - c\n",
        "steps[0].with.steps[0]",
        7,
        "a cancel step cannot cancel itself",
    ),
    (
        "cancel-across-sections",
        "name: w\nsteps:\n  - {id: a, action: noop}\nfinally:\n  - id: c\n    action: cancel\n"
        "    with:\n      steps:\n        - a\n",
        "finally[0].with.steps[0]",
        9,
        "unknown step 'a' (a cancel step in finally cancels one of: c)",
    ),
    (
        "cancel-templated",
        "name: w\nsteps:\n  - id: c\n    action: cancel\n    with:\n      steps: '{{ inputs.steps }}'\n",
        "steps[0].with.steps",
        6,
        "must be a list of step ids, not a template",
    ),
    (
        "cancel-empty",
        "name: w\nsteps:\n  - id: c\n    action: cancel\n    with:\n      steps: []\n",
        "steps[0].with.steps",
        6,
        "must name at least one step",
    ),
    (
        "terminate-bad-status",
        "name: w\nsteps:\n  - id: t\n    action: terminate\n    with:\n      status: done\n",
        "steps[0].with.status",
        6,
        "'done' is not one of: succeeded, failed, cancelled",
    ),
    (
        "terminate-without-status",
        "name: w\nsteps:\n  - id: t\n    action: terminate\n    with:\n      message: x\n",
        "steps[0].with.status",
        5,
        "is required",
    ),
    (
        "terminate-for-each",
        "name: w\nsteps:\n  - id: t\n    action: terminate\n    for_each: [1, 2]\n"
        "    with: {status: failed}\n",
        "steps[0].for_each",
        5,
        "a terminate step ends the run at once; it has no for_each",
    ),
]


@pytest.mark.parametrize(
    ("text", "path", "line", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_problems_name_path_line_and_reason(text: str, path: str, line: int, fragment: str) -> None:
    found = problems_of(text)
    assert any(p == path and n == line and fragment in m for p, n, m in found), found


def test_every_problem_of_the_endings_is_reported_at_once() -> None:
    found = problems_of(
        "name: w\nsteps:\n  - {id: a, action: cancel, with: {steps: [a, zz]}}\n"
        "finally:\n  - {id: f, action: terminate, needs: [a], with: {status: maybe}}\n"
    )
    assert {path for path, _, _ in found} == {
        "steps[0].with.steps[0]",
        "steps[0].with.steps[1]",
        "finally[0].needs[0]",
        "finally[0].with.status",
    }


def test_finally_steps_are_linted_like_the_others() -> None:
    text = (
        "name: w\nsteps:\n  - {id: a, action: noop}\nfinally:\n  - id: f\n    action: shell\n"
        "    with: {command: 'echo {{ steps.a.output }}'}\n"
    )
    warnings = lint(parse_workflow(text), source=text)
    assert [(w.path, w.line) for w in warnings] == [("finally[0].with.command", 7)]

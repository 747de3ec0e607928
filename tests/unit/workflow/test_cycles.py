"""The language of `repeat` and `goto`: what loads, what is refused (with path and line),
and which steps a goto runs again."""

from __future__ import annotations

import pytest

from executor.errors import WorkflowInvalid
from executor.workflow import Problem, Workflow, parse_workflow
from executor.workflow.cycles import Goto, Repeat, region

HEAD = "name: demo\nsteps:\n"
CHAIN = "  - {id: a, action: noop}\n  - {id: b, action: noop, needs: [a]}\n"


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, "test.yaml")
    return caught.value.problems


def step_c(extra: str) -> str:
    return HEAD + CHAIN + "  - id: c\n    action: noop\n    needs: [b]\n" + extra


def test_repeat_and_goto_load_into_the_model_and_round_trip() -> None:
    workflow = parse_workflow(
        step_c(
            '    with: {output: "{{ loop.index }}"}\n'
            '    outputs: {last: "{{ loop.previous }}"}\n'
            '    repeat: {until: "{{ result > 2 }}", max: 5, delay: 2s, on_max: succeed}\n'
            '    goto: {step: a, when: "{{ not steps.b.output }}", max: 3}\n'
        )
    )
    c = workflow.step("c")
    assert c.repeat == Repeat(max=5, until="{{ result > 2 }}", delay=2.0, on_max="succeed")
    assert c.goto == Goto(step="a", max=3, when="{{ not steps.b.output }}", on_max="fail")
    assert Workflow.from_json(workflow.to_json()) == workflow


def test_steps_without_them_keep_their_stored_form() -> None:
    workflow = parse_workflow(step_c(""))
    assert "repeat" not in workflow.to_json()["steps"][2]
    assert "goto" not in workflow.to_json()["steps"][2]


CASES = [
    ("repeat-not-mapping", step_c("    repeat: 3\n"), "steps[2].repeat", 8, "must be a mapping"),
    (
        "repeat-no-max",
        step_c('    repeat: {until: "{{ result }}"}\n'),
        "steps[2].repeat.max",
        8,
        "is required",
    ),
    ("repeat-max-zero", step_c("    repeat:\n      max: 0\n"), "steps[2].repeat.max", 9, "from 1 to 1000"),
    ("repeat-max-huge", step_c("    repeat: {max: 5000}\n"), "steps[2].repeat.max", 8, "from 1 to 1000"),
    (
        "repeat-until-number",
        step_c("    repeat: {max: 2, until: 3}\n"),
        "steps[2].repeat.until",
        8,
        "template",
    ),
    (
        "repeat-bad-delay",
        step_c("    repeat: {max: 2, delay: soon}\n"),
        "steps[2].repeat.delay",
        8,
        "duration",
    ),
    (
        "repeat-on-max-unknown",
        step_c('    repeat: {max: 2, until: "{{ result }}", on_max: retry}\n'),
        "steps[2].repeat.on_max",
        8,
        "not one of: fail, succeed",
    ),
    (
        "repeat-on-max-without-until",
        step_c("    repeat: {max: 2, on_max: succeed}\n"),
        "steps[2].repeat.on_max",
        8,
        "only with until",
    ),
    (
        "repeat-unknown-key",
        step_c("    repeat: {max: 2, times: 3}\n"),
        "steps[2].repeat.times",
        8,
        "unknown key",
    ),
    (
        "repeat-until-broken",
        step_c('    repeat:\n      max: 2\n      until: "{{ result >"\n'),
        "steps[2].repeat.until",
        10,
        "does not compile",
    ),
    (
        "repeat-until-unknown-step",
        step_c('    repeat: {max: 2, until: "{{ steps.zz.output }}"}\n'),
        "steps[2].repeat.until",
        8,
        "steps.zz is not a step",
    ),
    (
        "loop-outside-repeat",
        step_c('    with: {output: "{{ loop.index }}"}\n'),
        "steps[2].with.output",
        8,
        "only defined in a step with repeat",
    ),
    (
        "loop-in-when",
        step_c('    when: "{{ loop.index < 3 }}"\n    repeat: {max: 2}\n'),
        "steps[2].when",
        8,
        "not defined in when",
    ),
    ("goto-not-mapping", step_c("    goto: a\n"), "steps[2].goto", 8, "must be a mapping"),
    ("goto-no-step", step_c("    goto: {max: 2}\n"), "steps[2].goto.step", 8, "is required"),
    ("goto-no-max", step_c("    goto: {step: a}\n"), "steps[2].goto.max", 8, "is required"),
    ("goto-itself", step_c("    goto: {step: c, max: 2}\n"), "steps[2].goto.step", 8, "use repeat"),
    ("goto-unknown", step_c("    goto: {step: zz, max: 2}\n"), "steps[2].goto.step", 8, "unknown step 'zz'"),
    (
        "goto-forward",
        HEAD + CHAIN + "  - id: c\n    action: noop\n    goto:\n      step: b\n      max: 2\n",
        "steps[2].goto.step",
        8,
        "only goes back",
    ),
    (
        "goto-when-unknown-variable",
        step_c('    goto: {step: a, max: 2, when: "{{ input.x }}"}\n'),
        "steps[2].goto.when",
        8,
        "unknown variable 'input'",
    ),
    (
        "goto-on-for-each",
        step_c("    for_each: [1, 2]\n    goto: {step: a, max: 2}\n"),
        "steps[2].goto",
        9,
        "for_each step cannot goto",
    ),
]


@pytest.mark.parametrize(
    ("text", "path", "line", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_loops_name_path_line_and_reason(text: str, path: str, line: int, fragment: str) -> None:
    problems = problems_of(text)
    matching = [p for p in problems if p.path == path]
    assert matching, problems
    assert matching[0].line == line, matching
    assert fragment in matching[0].message, matching


def test_a_goto_region_is_the_paths_between_target_and_source() -> None:
    needs = {
        "setup": (),
        "build": ("setup",),
        "lint": ("build",),
        "unit": ("build",),
        "docs": ("build",),  # needs the target, leads nowhere near test
        "test": ("lint", "unit"),
        "ship": ("test",),
    }
    assert region(needs, "build", "test") == {"build", "lint", "unit", "test"}
    assert region(needs, "setup", "lint") == {"setup", "build", "lint"}


def test_lint_warns_about_the_previous_output_in_a_script_not_the_index() -> None:
    from executor.workflow.lint import lint

    source = (
        HEAD
        + "  - id: poll\n    action: shell\n"
        + '    with: {command: "echo {{ loop.index }} {{ loop.previous }}"}\n'
        + "    repeat: {max: 3}\n"
    )
    warnings = lint(parse_workflow(source), source=source)
    assert [(w.path, w.line) for w in warnings] == [("steps[0].with.command", 5)]
    assert "loop.previous" in warnings[0].message
    assert "loop.index" not in warnings[0].message

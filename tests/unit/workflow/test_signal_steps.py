"""The language of signal choices (`wait` on a list) and of for_each items that arrive as
signals: what loads, and what is refused with its path and line."""

from __future__ import annotations

import pytest

from executor.errors import WorkflowInvalid
from executor.workflow import Problem, parse_workflow
from executor.workflow.foreach import signal_source

HEAD = "name: demo\nsteps:\n"


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, "test.yaml")
    return caught.value.problems


def wait_step(signal: str) -> str:
    return HEAD + f"  - id: w\n    action: wait\n    with:\n      signal: {signal}\n"


def lines_step(for_each: str) -> str:
    return HEAD + f"  - id: each\n    action: noop\n    for_each: {for_each}\n"


CASES = [
    ("empty-choice", wait_step("[]"), "steps[0].with.signal", 6, "must name at least one signal"),
    ("duplicate-choice", wait_step("[approve, reject, approve]"), "steps[0].with.signal[2]", 6, "twice"),
    ("not-names", wait_step("[approve, 3]"), "steps[0].with.signal", 6, "a string or a list of strings"),
    ("mapping", wait_step("{a: 1}"), "steps[0].with.signal", 6, "a string or a list of strings"),
    ("no-until", lines_step("{signal: line}"), "steps[0].for_each", 5, "until: must be a signal's name"),
    (
        "no-signal-name",
        lines_step("{signal: '', until: done}"),
        "steps[0].for_each.signal",
        5,
        "signal's name",
    ),
    (
        "templated-until",
        lines_step('{signal: line, until: "{{ inputs.stop }}"}'),
        "steps[0].for_each.until",
        5,
        "not a template",
    ),
    ("same-names", lines_step("{signal: line, until: line}"), "steps[0].for_each.until", 5, "must differ"),
    (
        "signal-and-items",
        lines_step("{signal: line, until: done, items: [1]}"),
        "steps[0].for_each",
        5,
        "exactly one of",
    ),
    (
        "unknown-key",
        HEAD + "  - id: each\n    action: noop\n    for_each:\n      signal: line\n      until: done\n"
        "      stop: now\n",
        "steps[0].for_each.stop",
        8,
        "unknown key",
    ),
]


@pytest.mark.parametrize(
    ("text", "path", "line", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_refused_with_path_and_line(text: str, path: str, line: int, message: str) -> None:
    problems = problems_of(text)
    assert [(p.path, p.line) for p in problems] == [(path, line)], problems
    assert message in problems[0].message


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        HEAD
        + "  - {id: w, action: wait, with: {signal: [a, a]}}\n"
        + "  - {id: each, action: noop, for_each: {signal: x, until: x}}\n"
    )
    assert [(p.path, p.line) for p in problems] == [
        ("steps[0].with.signal[1]", 3),
        ("steps[1].for_each.until", 4),
    ]


def test_a_choice_and_a_signal_source_load() -> None:
    workflow = parse_workflow(
        HEAD
        + "  - {id: w, action: wait, with: {signal: [approve, reject], timeout: 1h}}\n"
        + "  - {id: each, action: noop, for_each: {signal: line, until: done}, concurrency: 2}\n"
        + '  - {id: t, action: wait, with: {signal: "{{ inputs.names }}"}}\n'
    )
    assert workflow.step("w").with_["signal"] == ["approve", "reject"]
    assert signal_source(workflow.step("each").for_each) == ("line", "done")
    assert workflow.step("each").concurrency == 2


def test_a_signal_source_round_trips_through_json() -> None:
    workflow = parse_workflow(lines_step("{signal: line, until: done, fail_fast: true}"))
    again = type(workflow).from_json(workflow.to_json())
    assert again == workflow
    assert signal_source(again.step("each").for_each) == ("line", "done")

"""The language of partial joins, cancelling joins, for_each mappings (matrices, fail_fast,
min_success) and conditional retries: what loads, what is refused (with path and line), and
how a matrix expands."""

from __future__ import annotations

import pytest

from executor.engine.states import trigger
from executor.errors import WorkflowInvalid
from executor.statuses import StepStatus
from executor.workflow import Problem, Workflow, parse_workflow
from executor.workflow.foreach import ForEachError, expand, modifiers

HEAD = "name: demo\nsteps:\n"
NEEDS = "  - {id: a, action: noop}\n  - {id: b, action: noop}\n  - {id: c, action: noop}\n"


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, "test.yaml")
    return caught.value.problems


def join_step(extra: str) -> str:
    return HEAD + NEEDS + "  - id: j\n    action: noop\n    needs: [a, b, c]\n" + extra


CASES = [
    (
        "min-success-zero",
        join_step("    trigger_rule: {min_success: 0}\n"),
        "steps[3].trigger_rule.min_success",
        9,
    ),
    (
        "min-done-too-many",
        join_step("    trigger_rule:\n      min_done: 4\n"),
        "steps[3].trigger_rule.min_done",
        10,
    ),
    (
        "two-partial-keys",
        join_step("    trigger_rule: {min_success: 1, min_done: 1}\n"),
        "steps[3].trigger_rule",
        9,
    ),
    ("unknown-rule", join_step("    trigger_rule: most_success\n"), "steps[3].trigger_rule", 9),
    ("cancel-not-bool", join_step("    cancel_remaining: yes please\n"), "steps[3].cancel_remaining", 9),
    (
        "cancel-without-needs",
        HEAD + "  - id: a\n    action: noop\n    cancel_remaining: true\n",
        "steps[0].cancel_remaining",
        5,
    ),
    (
        "for-each-two-sources",
        HEAD + "  - id: a\n    action: noop\n    for_each: {items: [1], matrix: {x: [1]}}\n",
        "steps[0].for_each",
        5,
    ),
    (
        "for-each-no-source",
        HEAD + "  - id: a\n    action: noop\n    for_each: {fail_fast: true}\n",
        "steps[0].for_each",
        5,
    ),
    (
        "matrix-axis-not-list",
        HEAD + "  - id: a\n    action: noop\n    for_each:\n      matrix:\n        os: linux\n",
        "steps[0].for_each.matrix.os",
        7,
    ),
    (
        "exclude-unknown-axis",
        HEAD + "  - id: a\n    action: noop\n    for_each:\n      matrix: {os: [l]}\n      exclude:\n"
        "        - {arch: arm}\n",
        "steps[0].for_each.exclude[0].arch",
        8,
    ),
    (
        "include-not-mapping",
        HEAD + "  - id: a\n    action: noop\n    for_each:\n      matrix: {os: [l]}\n      include: [3]\n",
        "steps[0].for_each.include[0]",
        7,
    ),
    (
        "unknown-for-each-key",
        HEAD + "  - id: a\n    action: noop\n    for_each:\n      items: [1]\n      failfast: true\n",
        "steps[0].for_each.failfast",
        7,
    ),
    (
        "fail-fast-not-bool",
        HEAD + "  - id: a\n    action: noop\n    for_each:\n      items: [1]\n      fail_fast: 1\n",
        "steps[0].for_each.fail_fast",
        7,
    ),
    (
        "min-success-above-items",
        HEAD + "  - id: a\n    action: noop\n    for_each:\n      matrix: {x: [1, 2], y: [a]}\n"
        "      min_success: 3\n",
        "steps[0].for_each.min_success",
        7,
    ),
    (
        "matrix-too-large",
        HEAD
        + "  - id: a\n    action: noop\n    for_each:\n      matrix:\n"
        + "".join(f"        a{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n" for i in range(6)),
        "steps[0].for_each",
        5,
    ),
    (
        "retry-when-not-template",
        HEAD + "  - id: a\n    action: noop\n    retry:\n      when: sometimes\n",
        "steps[0].retry.when",
        6,
    ),
    (
        "retry-when-unknown-name",
        HEAD + "  - id: a\n    action: noop\n    retry: {when: '{{ response.status == 503 }}'}\n",
        "steps[0].retry.when",
        5,
    ),
    (
        "retry-when-broken",
        HEAD
        + "  - id: a\n    action: noop\n    retry: {max_attempts: 2, when: '{{ result.exit_code in }}'}\n",
        "steps[0].retry.when",
        5,
    ),
]


@pytest.mark.parametrize(("text", "path", "line"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_invalid_joins_and_for_each_name_path_and_line(text: str, path: str, line: int) -> None:
    found = problems_of(text)
    assert [(p.path, p.line) for p in found if p.path == path] == [(path, line)], [str(p) for p in found]


def test_problems_of_several_new_keys_come_together() -> None:
    found = problems_of(
        join_step(
            "    trigger_rule: {min_success: 9}\n"
            "    cancel_remaining: 1\n"
            "    retry: {when: 3}\n"
            "    for_each: {matrix: {os: [l]}, min_success: 0}\n"
        )
    )
    assert [(p.path, p.line) for p in found] == [
        ("steps[3].trigger_rule.min_success", 9),
        ("steps[3].cancel_remaining", 10),
        ("steps[3].retry.when", 11),
        ("steps[3].for_each.min_success", 12),
    ]


def test_the_new_forms_load_and_round_trip() -> None:
    workflow = parse_workflow(
        join_step(
            "    trigger_rule: {min_success: 2}\n"
            "    cancel_remaining: true\n"
            "    retry: {max_attempts: 3, when: '{{ result.exit_code == 75 or \"busy\" in error }}'}\n"
            "    for_each:\n"
            "      matrix: {python: ['3.12', '3.11'], os: [linux]}\n"
            "      include: [{os: mac, python: '3.12'}]\n"
            "      fail_fast: true\n"
        )
    )
    step = workflow.step("j")
    assert step.trigger_rule == {"min_success": 2}
    assert step.cancel_remaining is True
    assert step.retry.when == '{{ result.exit_code == 75 or "busy" in error }}'
    assert step.for_each["axes"] == ["python", "os"]  # the order written, whatever the store keeps
    assert modifiers(step.for_each).fail_fast is True
    again = Workflow.from_json(workflow.to_json())
    assert again == workflow and again.digest == workflow.digest


def test_old_forms_are_stored_exactly_as_before() -> None:
    """No new key in the stored form of a workflow that uses none of them: its digest, and
    so the version it is found as, stays the same."""
    workflow = parse_workflow(
        HEAD
        + "  - {id: a, action: noop, for_each: [1, 2], retry: {max_attempts: 2}}\n"
        + "  - {id: b, action: noop, for_each: '{{ inputs.x }}', needs: [a], trigger_rule: none_failed}\n"
    )
    a, b = workflow.to_json()["steps"]
    assert a["for_each"] == [1, 2] and b["for_each"] == "{{ inputs.x }}"
    assert set(a) == set(b) == {
        "id", "action", "with", "needs", "when", "for_each", "concurrency", "retry", "timeout",
        "outputs", "trigger_rule", "continue_on_error",
    }  # fmt: skip
    assert set(a["retry"]) == {"max_attempts", "backoff", "delay", "max_delay", "jitter"}


def test_a_matrix_expands_as_github_actions_does() -> None:
    """GitHub's documented example: include extends the combinations whose matrix values it
    does not contradict (a later include overwrites an added value), or adds its own."""
    spec = {
        "matrix": {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},
        "axes": ["fruit", "animal"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    assert expand(spec) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_exclude_removes_partial_matches_before_include_adds_back() -> None:
    spec = {
        "matrix": {"os": ["linux", "mac"], "py": [11, 12], "arch": ["x64"]},
        "axes": ["os", "py", "arch"],
        "exclude": [{"os": "mac", "py": 11}],
        "include": [{"os": "mac", "py": 11, "arch": "x64", "note": "back"}],
    }
    assert expand(spec) == [
        {"os": "linux", "py": 11, "arch": "x64"},
        {"os": "linux", "py": 12, "arch": "x64"},
        {"os": "mac", "py": 12, "arch": "x64"},
        {"os": "mac", "py": 11, "arch": "x64", "note": "back"},
    ]


def test_matrix_values_compare_as_json() -> None:
    spec = {"matrix": {"v": [1, True, "1"]}, "axes": ["v"], "exclude": [{"v": 1}]}
    assert expand(spec) == [{"v": True}, {"v": "1"}]


@pytest.mark.parametrize(
    ("rendered", "message"),
    [
        ({"matrix": {"os": "linux"}, "axes": ["os"]}, "for_each.matrix.os must give a list, not str"),
        ({"items": 3}, "for_each.items must give a list, not int"),
        ("abc", "for_each must give a list, not str"),
        ({"matrix": {"a": list(range(400)), "b": list(range(400))}}, "160000 combinations; at most 100000"),
    ],
)
def test_a_rendered_for_each_that_gives_no_list_is_an_error(rendered: object, message: str) -> None:
    with pytest.raises(ForEachError, match=message):
        expand(rendered)


S, F, K = StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED


@pytest.mark.parametrize(
    ("rule", "states", "decision"),
    [
        ({"min_success": 2}, [S, None, None], "wait"),
        ({"min_success": 2}, [S, S, None], "run"),
        ({"min_success": 2}, [F, K, None], "skip"),
        ({"min_success": 2}, [F, S, None], "wait"),
        ({"min_done": 2}, [F, None, None], "wait"),
        ({"min_done": 2}, [F, K, None], "run"),
        ("none_failed_min_one_success", [S, K, None], "wait"),
        ("none_failed_min_one_success", [S, K, K], "run"),
        ("none_failed_min_one_success", [K, K, K], "skip"),
        ("none_failed_min_one_success", [S, F, None], "skip"),
    ],
)
def test_partial_and_airflow_rules_decide(
    rule: object, states: list[StepStatus | None], decision: str
) -> None:
    needs = [(name, state) for name, state in zip("abc", states, strict=True)]
    assert trigger(rule, needs)[0] == decision  # type: ignore[arg-type]


def test_retry_when_may_be_a_default() -> None:
    workflow = parse_workflow(
        "name: demo\ndefaults:\n  retry: {max_attempts: 3, when: \"{{ 'busy' in error }}\"}\n"
        "steps:\n  - {id: a, action: noop}\n  - {id: b, action: noop, retry: {when: false}}\n"
    )
    assert workflow.step("a").retry.when == "{{ 'busy' in error }}"
    assert (workflow.step("b").retry.max_attempts, workflow.step("b").retry.when) == (3, False)
    found = problems_of(
        "name: demo\ndefaults:\n  retry: {when: '{{ erorr }}'}\nsteps:\n  - {id: a, action: noop}\n"
    )
    assert [(p.path, p.line) for p in found] == [("defaults.retry.when", 3)]

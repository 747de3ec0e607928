"""`mutex`, `semaphore` and `concurrency` in the language: parsed, stored, and every mistake
named with its path and line."""

from __future__ import annotations

import pytest

from executor.errors import WorkflowInvalid
from executor.workflow import Workflow, parse_workflow
from executor.workflow.exclusion import Concurrency, Semaphore

GOOD = """
name: deploy
concurrency: {key: "deploy-{{ inputs.env }}", policy: cancel_running}
steps:
  - {id: a, action: noop, mutex: "db-{{ inputs.env }}"}
  - {id: b, action: noop, semaphore: {key: gpu, limit: 2}}
  - {id: c, action: noop}
"""


def test_keys_are_parsed_and_kept_through_storage() -> None:
    workflow = parse_workflow(GOOD)
    assert workflow.concurrency == Concurrency("deploy-{{ inputs.env }}", 1, "cancel_running")
    assert [step.semaphore for step in workflow.steps] == [
        Semaphore("db-{{ inputs.env }}", mutex=True),
        Semaphore("gpu", 2),
        None,
    ]
    stored = workflow.to_json()
    assert stored["steps"][0]["mutex"] == "db-{{ inputs.env }}"
    assert stored["steps"][1]["semaphore"] == {"key": "gpu", "limit": 2}
    assert "mutex" not in stored["steps"][2] and "semaphore" not in stored["steps"][2]
    assert Workflow.from_json(stored) == workflow


def test_a_workflow_without_keys_keeps_its_digest() -> None:
    plain = parse_workflow("name: p\nsteps:\n  - {id: a, action: noop}\n")
    assert "concurrency" not in plain.to_json()
    assert "mutex" not in plain.to_json()["steps"][0] and "semaphore" not in plain.to_json()["steps"][0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "concurrency: {key: k, limit: 0}\nsteps: [{id: a, action: noop}]",
            "3: concurrency.limit: must be a whole number from 1 to 10000",
        ),
        (  # beyond what the store's 64-bit integer keeps: refused at load, not at run time
            "concurrency: {key: k, limit: 99999999999999999999999}\nsteps: [{id: a, action: noop}]",
            "3: concurrency.limit: must be a whole number from 1 to 10000",
        ),
        (
            "steps:\n  - {id: a, action: noop, semaphore: {key: g, limit: 99999999999999999999999}}",
            "4: steps[0].semaphore.limit: must be a whole number from 1 to 10000",
        ),
        (  # a step's key is rendered once for the step, before any item
            "steps:\n  - {id: a, action: noop, for_each: [1, 2], semaphore: {key: '{{ item }}', limit: 2}}",
            "4: steps[0].semaphore.key: cannot use 'item': the key is rendered once for the whole "
            "for_each step, not per item",
        ),
        (
            "steps:\n  - id: a\n    action: noop\n    for_each: [1, 2]\n    mutex: 'm-{{ index }}'",
            "7: steps[0].mutex: cannot use 'index'",
        ),
        (
            "steps:\n  - {id: a, action: noop, repeat: {max: 2}, mutex: 'm-{{ loop.index }}'}",
            "4: steps[0].mutex: cannot use 'loop': the key is rendered once for the whole repeat step",
        ),
        (
            "steps:\n  - {id: a, action: noop}\n  - {id: b, action: noop, mutex: '{{ steps.a.output }}'}",
            "5: steps[1].mutex: steps.a is not a dependency of b; add it to needs",
        ),
        (
            "steps:\n  - {id: a, action: noop, semaphore: {key: '{{ input.x }}', limit: 2}}",
            "4: steps[0].semaphore.key: unknown variable 'input'",
        ),
        (
            "concurrency: {key: k, policy: later}\nsteps: [{id: a, action: noop}]",
            "3: concurrency.policy: 'later' is not a policy (one of: queue, skip, cancel_running)",
        ),
        ("concurrency: {limit: 2}\nsteps: [{id: a, action: noop}]", "3: concurrency.key: is required"),
        ("concurrency: deploy\nsteps: [{id: a, action: noop}]", "3: concurrency: must be a mapping"),
        (
            "concurrency: {key: k, cancel: true}\nsteps: [{id: a, action: noop}]",
            "3: concurrency.cancel: unknown key",
        ),
        (
            "concurrency: {key: '{{ steps.a.output }}'}\nsteps: [{id: a, action: noop}]",
            "3: concurrency.key: is rendered when the run is created, before any step",
        ),
        (
            "steps:\n  - {id: a, action: noop, mutex: ''}",
            "4: steps[0].mutex: must be a non-empty string",
        ),
        (
            "steps:\n  - {id: a, action: noop, mutex: x, semaphore: {key: y, limit: 2}}",
            "4: steps[0].semaphore: a step takes a mutex or a semaphore, not both",
        ),
        (
            "steps:\n  - {id: a, action: noop, semaphore: {key: gpu}}",
            "4: steps[0].semaphore.limit: is required",
        ),
        (
            "steps:\n  - id: a\n    action: noop\n    semaphore: {key: '{{ inputs.x', limit: 2}",
            "6: steps[0].semaphore.key: template does not compile",
        ),
    ],
)
def test_mistakes_are_named_with_their_line(text: str, expected: str) -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow(f"name: bad\n\n{text}\n", "bad.yaml")
    lines = [str(problem) for problem in raised.value.problems]
    assert any(expected in line for line in lines), lines


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "{id: a, action: noop, for_each: {items: [1], min_success: 99999999999999999999999}}",
            "steps[0].for_each.min_success: must be a whole number from 1 to 100000",
        ),
        (
            "{id: a, action: noop, for_each: '{{ inputs.xs }}', concurrency: 99999999999999999999999}",
            "steps[0].concurrency: must be a whole number of at least 1 and at most 100000",
        ),
        (
            "{id: a, action: noop, retry: {max_attempts: 99999999999999999999999}}",
            "steps[0].retry.max_attempts: must be a whole number of at least 1 and at most 1000000",
        ),
    ],
)
def test_other_counts_are_bounded_too(step: str, expected: str) -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow(f"name: bad\nsteps:\n  - {step}\n", "bad.yaml")
    assert f"bad.yaml:3: {expected}" in [str(problem) for problem in raised.value.problems]


def test_a_step_key_may_use_inputs_and_needed_steps() -> None:
    workflow = parse_workflow(
        "name: ok\nsteps:\n  - {id: a, action: noop}\n"
        "  - {id: b, action: noop, needs: [a], for_each: [1], mutex: 'm-{{ steps.a.output }}-{{ inputs.x }}'}\n"
    )
    assert workflow.steps[1].semaphore == Semaphore("m-{{ steps.a.output }}-{{ inputs.x }}", mutex=True)

from __future__ import annotations

from pathlib import Path

import pytest

from executor.durations import MAX_SECONDS, parse_duration
from executor.errors import WorkflowInvalid
from executor.workflow import (
    Problem,
    RetryPolicy,
    Workflow,
    load_workflow_file,
    parse_definition,
    parse_workflow,
)

RELEASE = Path(__file__).parent / "release.yaml"

# The smallest valid workflow; most invalid cases below change one thing in it.
HEAD = "name: demo\nsteps:\n"
STEP_A = "  - id: a\n    action: noop\n"


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, "test.yaml")
    return caught.value.problems


def test_the_release_example_parses_into_the_model() -> None:
    workflow = load_workflow_file(RELEASE)

    assert workflow.name == "release"
    assert workflow.description == "Build and ship one service"
    assert workflow.timeout == 7200
    assert workflow.inputs is not None and workflow.inputs["required"] == ["service"]
    assert workflow.outputs == {"version": "{{ steps.build.output.version }}"}
    assert [step.id for step in workflow.steps] == ["build", "approve", "deploy", "notify"]

    build, approve, deploy, notify = workflow.steps
    assert build.action == "shell"
    assert build.with_ == {"command": ["make", "build", "SERVICE={{ inputs.service }}"], "env": {"CI": "1"}}
    assert build.outputs == {"version": "{{ result.json.version }}"}
    assert build.needs == ()
    # defaults.timeout and defaults.retry apply where the step says nothing
    assert build.timeout == 600
    assert build.retry == RetryPolicy(max_attempts=3, backoff="exponential", delay=1.0, max_delay=60.0)
    assert approve.needs == ("build",)
    assert approve.with_ == {"signal": "approve", "timeout": "24h"}
    # the step's own retry keys win, the others come from defaults
    assert deploy.retry == RetryPolicy(max_attempts=5, backoff="exponential", delay=1.0, max_delay=60.0)
    assert deploy.when == "{{ steps.approve.output.approved }}"
    assert deploy.for_each == "{{ range(inputs.replicas) }}"
    assert deploy.concurrency == 2
    assert deploy.trigger_rule == "all_success"
    assert notify.trigger_rule == "all_done"
    assert notify.needs == ("deploy",)
    assert notify.continue_on_error is False


def test_the_model_round_trips_through_json() -> None:
    workflow = load_workflow_file(RELEASE)
    assert Workflow.from_json(workflow.to_json()) == workflow
    assert parse_workflow(RELEASE.read_text()).digest == workflow.digest


def test_steps_without_any_retry_get_the_model_default() -> None:
    workflow = parse_workflow(HEAD + STEP_A)
    assert workflow.steps[0].retry == RetryPolicy()
    assert workflow.steps[0].timeout is None
    assert workflow.timeout is None
    assert workflow.inputs is None
    assert workflow.outputs is None


def test_short_forms_and_numbers() -> None:
    workflow = parse_workflow(
        HEAD + STEP_A + "  - id: b\n"
        "    action: noop\n"
        "    needs: a\n"  # a single id
        "    timeout: 90\n"  # seconds
        "    retry: {delay: 500ms, max_delay: 2.5, jitter: true, backoff: fixed}\n"
        "    for_each: [1, 2]\n"
        "    when: false\n"
        "    continue_on_error: true\n"
    )
    step = workflow.steps[1]
    assert step.needs == ("a",)
    assert step.timeout == 90
    assert step.retry == RetryPolicy(backoff="fixed", delay=0.5, max_delay=2.5, jitter=0.5)
    assert step.for_each == [1, 2]
    assert step.when is False
    assert step.continue_on_error is True


def test_yaml_details_stay_as_written() -> None:
    workflow = parse_workflow(
        HEAD + "  - id: a\n    action: sleep\n    with: {until: 2026-12-01T09:00:00Z}\n"
        "  - id: b\n    action: noop\n    with: {output: {on: yes, 1: one}}\n"
    )
    # a timestamp stays text (as in JSON); keys are their text; `yes` is text (YAML 1.2)
    assert workflow.steps[0].with_ == {"until": "2026-12-01T09:00:00Z"}
    assert workflow.steps[1].with_ == {"output": {"on": "yes", "1": "one"}}


def test_merge_keys_override_without_being_duplicates() -> None:
    workflow = parse_workflow(
        HEAD + "  - id: a\n    action: noop\n    retry: &retry {max_attempts: 4, delay: 2s}\n"
        "  - id: b\n    action: noop\n    retry: {<<: *retry, delay: 3s}\n"
    )
    assert workflow.steps[1].retry == RetryPolicy(max_attempts=4, delay=3.0)


def test_transitive_needs_may_be_referenced() -> None:
    workflow = parse_workflow(
        HEAD + STEP_A + "  - id: b\n    action: noop\n    needs: [a]\n"
        "  - id: c\n    action: noop\n    needs: [b]\n    with: {output: \"{{ steps['a'].output }}\"}\n"
        "outputs: {first: '{{ steps.a.output }}'}\n"
    )
    assert workflow.steps[2].needs == ("b",)


CASES = [
    # (id, document, path, line, fragment of the message)
    ("yaml-syntax", "name: demo\nsteps: [\n  {id: a\n", "", 4, "expected"),
    ("yaml-tab", "name: demo\n\tsteps: []\n", "", 2, "cannot start any token"),
    (
        "duplicate-key",
        "name: demo\nname: again\nsteps: []\n",
        "name",
        2,
        "duplicate key 'name' (first on line 1)",
    ),
    ("not-a-mapping", "- name: demo\n", "", 1, "must be a mapping with name and steps, not a list"),
    ("empty", "\n", "", 1, "the document is empty"),
    (
        "python-tag",
        HEAD + STEP_A + "description: !!python/object:os.system {}\n",
        "description",
        5,
        "!!python/object",
    ),
    (
        "unknown-tag",
        HEAD + STEP_A + "description: !shout hi\n",
        "description",
        5,
        "constructor for the tag '!shout'",
    ),
    ("unknown-top-key", HEAD + STEP_A + "nmae: x\n", "nmae", 5, "did you mean 'name'?"),
    ("name-missing", "steps:\n" + STEP_A, "name", 1, "is required"),
    ("name-bad", "name: Release!\nsteps:\n" + STEP_A, "name", 1, "'Release!' is not a workflow name"),
    ("name-long", f"name: {'a' * 65}\nsteps:\n" + STEP_A, "name", 1, "at most 64"),
    ("description-type", HEAD + STEP_A + "description: [x]\n", "description", 5, "must be a string"),
    ("inputs-type", HEAD + STEP_A + "inputs: [x]\n", "inputs", 5, "must be a JSON Schema"),
    ("inputs-schema", HEAD + STEP_A + "inputs:\n  type: objekt\n", "inputs.type", 6, "invalid JSON Schema"),
    ("timeout-bad", HEAD + STEP_A + "timeout: soon\n", "timeout", 5, "'soon' is not a duration"),
    ("timeout-negative", HEAD + STEP_A + "timeout: -3\n", "timeout", 5, "is negative"),
    ("timeout-zero", HEAD + STEP_A + "timeout: 0s\n", "timeout", 5, "must be longer than 0"),
    ("timeout-list", HEAD + STEP_A + "timeout: [1]\n", "timeout", 5, "must be a duration"),
    (
        "repeat-delay-huge",
        HEAD + STEP_A + "    repeat: {max: 2, delay: 99999999999999999999999d}\n",
        "steps[0].repeat.delay",
        5,
        "longer than 100 years (36500d)",
    ),
    ("timeout-huge-number", HEAD + STEP_A + f"timeout: {10**400}\n", "timeout", 5, "longer than 100 years"),
    ("timeout-over-100-years", HEAD + STEP_A + "timeout: 36501d\n", "timeout", 5, "longer than 100 years"),
    (
        "sleep-duration-huge",
        HEAD + "  - id: a\n    action: sleep\n    with: {duration: 99999999999d}\n",
        "steps[0].with.duration",
        5,
        "at most 100 years",
    ),
    (
        "defaults-key",
        HEAD + STEP_A + "defaults:\n  timeout: 1m\n  retries: 3\n",
        "defaults.retries",
        7,
        "did you mean",
    ),
    (
        "defaults-delay",
        HEAD + STEP_A + "defaults:\n  retry:\n    delay: abc\n",
        "defaults.retry.delay",
        7,
        "'abc' is not a duration",
    ),
    ("steps-missing", "name: demo\n", "steps", 1, "is required"),
    ("steps-empty", "name: demo\nsteps: []\n", "steps", 2, "at least one step"),
    ("steps-type", "name: demo\nsteps: {a: 1}\n", "steps", 2, "must be a list of steps"),
    ("step-type", HEAD + "  - just text\n", "steps[0]", 3, "must be a mapping with id and action"),
    ("step-id-missing", HEAD + "  - action: noop\n", "steps[0].id", 3, "is required"),
    ("step-id-bad", HEAD + "  - id: Build-It\n    action: noop\n", "steps[0].id", 3, "is not a step id"),
    (
        "step-id-duplicate",
        HEAD + STEP_A + STEP_A,
        "steps[1].id",
        5,
        "duplicate step id 'a' (first used by steps[0])",
    ),
    ("step-unknown-key", HEAD + STEP_A + "    need: [b]\n", "steps[0].need", 5, "did you mean 'needs'?"),
    ("action-missing", HEAD + "  - id: a\n", "steps[0].action", 3, "is required"),
    (
        "action-unknown",
        HEAD + "  - id: a\n    action: ssh\n",
        "steps[0].action",
        4,
        "unknown action 'ssh' (known: cancel, http, llm, noop,",
    ),
    ("with-required", HEAD + "  - id: a\n    action: shell\n", "steps[0].with.command", 3, "is required"),
    (
        "with-type",
        HEAD + STEP_A + "    with: [1]\n",
        "steps[0].with",
        5,
        "must be a mapping of noop parameters",
    ),
    (
        "with-param",
        HEAD + "  - id: a\n    action: shell\n    with:\n      command: ls\n      cwd: 3\n",
        "steps[0].with.cwd",
        7,
        "must be a string",
    ),
    (
        "with-unknown",
        HEAD + "  - id: a\n    action: wait\n    with: {signal: go, timout: 1m}\n",
        "steps[0].with.timout",
        5,
        "unknown parameter for wait",
    ),
    (
        "with-exclusive",
        HEAD + "  - id: a\n    action: http\n    with: {url: x, json: {}, body: x}\n",
        "steps[0].with.body",
        5,
        "either json or body",
    ),
    (
        "needs-unknown",
        HEAD + STEP_A + "    needs: [zzz]\n",
        "steps[0].needs[0]",
        5,
        "unknown step 'zzz' (steps: a)",
    ),
    ("needs-self", HEAD + STEP_A + "    needs: a\n", "steps[0].needs", 5, "cannot need itself"),
    (
        "needs-twice",
        HEAD + STEP_A + "  - id: b\n    action: noop\n    needs: [a, a]\n",
        "steps[1].needs[1]",
        7,
        "listed twice",
    ),
    ("needs-type", HEAD + STEP_A + "    needs: 3\n", "steps[0].needs", 5, "a step id or a list of step ids"),
    (
        "cycle",
        HEAD + STEP_A + "    needs: [b]\n  - id: b\n    action: noop\n    needs: [a]\n",
        "steps[0].needs",
        5,
        "steps a → b → a form a cycle",
    ),
    (
        "cycle-of-three",
        HEAD + "  - id: x\n    action: noop\n"
        "  - id: a\n    action: noop\n    needs: [c]\n"
        "  - id: b\n    action: noop\n    needs: [a]\n"
        "  - id: c\n    action: noop\n    needs: [b, x]\n",
        "steps[1].needs",
        7,
        "steps a → c → b → a form a cycle",
    ),
    (
        "trigger-rule",
        HEAD + STEP_A + "    trigger_rule: sometimes\n",
        "steps[0].trigger_rule",
        5,
        "'sometimes' is not a trigger rule",
    ),
    (
        "concurrency-alone",
        HEAD + STEP_A + "    concurrency: 2\n",
        "steps[0].concurrency",
        5,
        "only applies to a step with for_each",
    ),
    (
        "concurrency-zero",
        HEAD + STEP_A + "    for_each: [1]\n    concurrency: 0\n",
        "steps[0].concurrency",
        6,
        "at least 1",
    ),
    (
        "for-each-text",
        HEAD + STEP_A + "    for_each: hosts\n",
        "steps[0].for_each",
        5,
        "must be a list, or a template",
    ),
    ("when-type", HEAD + STEP_A + "    when: [1]\n", "steps[0].when", 5, "must be true, false or a template"),
    (
        "continue-type",
        HEAD + STEP_A + "    continue_on_error: maybe\n",
        "steps[0].continue_on_error",
        5,
        "true or false",
    ),
    ("outputs-type", HEAD + STEP_A + "    outputs: [x]\n", "steps[0].outputs", 5, "must be a mapping"),
    ("retry-type", HEAD + STEP_A + "    retry: 3\n", "steps[0].retry", 5, "must be a mapping"),
    (
        "retry-key",
        HEAD + STEP_A + "    retry:\n      attempts: 3\n",
        "steps[0].retry.attempts",
        6,
        "did you mean 'max_attempts'?",
    ),
    (
        "retry-attempts",
        HEAD + STEP_A + "    retry:\n      max_attempts: 0\n",
        "steps[0].retry.max_attempts",
        6,
        "at least 1",
    ),
    (
        "retry-attempts-bool",
        HEAD + STEP_A + "    retry: {max_attempts: true}\n",
        "steps[0].retry.max_attempts",
        5,
        "whole number",
    ),
    (
        "retry-backoff",
        HEAD + STEP_A + "    retry:\n      backoff: linear\n",
        "steps[0].retry.backoff",
        6,
        "'linear' is not a backoff",
    ),
    (
        "retry-delay",
        HEAD + STEP_A + "    retry:\n      delay: abc\n",
        "steps[0].retry.delay",
        6,
        "'abc' is not a duration",
    ),
    (
        "retry-max-delay",
        HEAD + STEP_A + "    retry:\n      max_delay: -1\n",
        "steps[0].retry.max_delay",
        6,
        "negative",
    ),
    (
        "retry-jitter",
        HEAD + STEP_A + "    retry:\n      jitter: 1.5\n",
        "steps[0].retry.jitter",
        6,
        "fraction from 0 to 1",
    ),
    ("step-timeout", HEAD + STEP_A + "    timeout: 0\n", "steps[0].timeout", 5, "must be longer than 0"),
    (
        "template-with",
        HEAD + STEP_A + "    with:\n      output: '{{ inputs.x '\n",
        "steps[0].with.output",
        6,
        "template does not compile",
    ),
    (
        "template-nested",
        HEAD + STEP_A + "    with:\n      output:\n        - ok\n        - '{% if %}'\n",
        "steps[0].with.output[1]",
        8,
        "template does not compile",
    ),
    ("template-when", HEAD + STEP_A + "    when: '{{ }}'\n", "steps[0].when", 5, "template does not compile"),
    (
        "template-outputs",
        HEAD + STEP_A + "outputs:\n  x: '{{ 1 + }}'\n",
        "outputs.x",
        6,
        "template does not compile",
    ),
    (
        "unknown-variable",
        HEAD + STEP_A + "    when: '{{ input.go }}'\n",
        "steps[0].when",
        5,
        "unknown variable 'input'",
    ),
    (
        "not-a-dependency",
        HEAD + STEP_A + "  - id: b\n    action: noop\n  - id: notify\n    action: noop\n    needs: [b]\n"
        "    with: {output: '{{ steps.a.output }}'}\n",
        "steps[2].with.output",
        10,
        "steps.a is not a dependency of notify; add it to needs",
    ),
    (
        "unknown-step-ref",
        HEAD + STEP_A + "outputs: {x: '{{ steps.zzz.output }}'}\n",
        "outputs.x",
        5,
        "steps.zzz is not a step",
    ),
    (
        "self-ref",
        HEAD + STEP_A + "    when: '{{ steps.a.status }}'\n",
        "steps[0].when",
        5,
        "is this step itself",
    ),
    ("non-finite", HEAD + STEP_A + "    timeout: .inf\n", "steps[0].timeout", 5, "not a finite number"),
]


@pytest.mark.parametrize(
    ("text", "path", "line", "fragment"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_invalid_documents_name_path_line_and_reason(text: str, path: str, line: int, fragment: str) -> None:
    found = problems_of(text)
    matching = [p for p in found if p.path == path and fragment in p.message]
    assert matching, f"no problem at {path} with {fragment!r} in: {[str(p) for p in found]}"
    assert matching[0].line == line
    assert matching[0].file == "test.yaml"


def test_every_problem_is_reported_at_once() -> None:
    found = problems_of(
        "name: Bad Name\n"
        "timeout: abc\n"
        "steps:\n"
        "  - id: a\n"
        "    action: ssh\n"
        "  - id: b\n"
        "    action: noop\n"
        "    needs: [zzz]\n"
        "    retry: {delay: never}\n"
    )
    assert [(p.path, p.line) for p in found] == [
        ("name", 1),
        ("timeout", 2),
        ("steps[0].action", 5),
        ("steps[1].needs[0]", 8),
        ("steps[1].retry.delay", 9),
    ]


def test_problems_read_like_compiler_errors() -> None:
    problem = Problem("steps[2].retry.delay", 12, "'abc' is not a duration", "release.yaml")
    assert str(problem) == "release.yaml:12: steps[2].retry.delay: 'abc' is not a duration"
    assert str(Problem("", 3, "bad", None)) == "line 3: bad"
    assert str(Problem("name", None, "is required", None)) == "name: is required"

    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow("name: demo\n", "w.yaml")
    assert caught.value.code == "invalid_workflow"
    assert caught.value.http_status == 422
    assert "w.yaml:1: steps: is required" in caught.value.message


def test_parse_definition_checks_a_decoded_body() -> None:
    workflow = parse_definition(
        {
            "name": "demo",
            "steps": [
                {"id": "a", "action": "noop", "with": {"output": 1}},
                {"id": "b", "action": "noop", "needs": ["a"]},
            ],
        }
    )
    assert workflow.steps[1].needs == ("a",)
    assert workflow.steps[0].with_ == {"output": 1}

    with pytest.raises(WorkflowInvalid) as caught:
        parse_definition({"name": "demo", "steps": [{"id": "a", "action": "noop", "retry": {"delay": "x"}}]})
    assert [(p.path, p.line, p.file) for p in caught.value.problems] == [("steps[0].retry.delay", None, None)]

    with pytest.raises(WorkflowInvalid) as caught:
        parse_definition({"name": "demo", "steps": [{"id": "a"}]}, lines={"steps[0]": 7})
    assert [(p.path, p.line) for p in caught.value.problems] == [("steps[0].action", 7)]

    with pytest.raises(WorkflowInvalid):
        parse_definition(["not", "a", "mapping"])


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(WorkflowInvalid, match="cannot read the file"):
        load_workflow_file(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe name")
    with pytest.raises(WorkflowInvalid, match="not UTF-8"):
        load_workflow_file(binary)


def test_oversized_and_exploding_documents_are_refused() -> None:
    (big,) = problems_of("name: " + "a" * (1024 * 1024) + "\n")
    assert "larger than" in big.message
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        levels.append(
            f"l{level}: &l{level} [" + ", ".join([f"*{'a' if level == 1 else f'l{level - 1}'}"] * 10) + "]"
        )
    (bomb,) = problems_of("\n".join(levels) + "\n")
    assert "expands to more than" in bomb.message


def test_the_documented_example_is_the_tested_one() -> None:
    docs = Path(__file__).parents[3] / "docs" / "workflows.md"
    first_yaml_block = docs.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    assert first_yaml_block == RELEASE.read_text()


def test_only_true_and_false_are_booleans() -> None:
    from executor.workflow import parse_workflow

    workflow = parse_workflow(
        "name: b\nsteps:\n  - id: a\n    action: noop\n    continue_on_error: true\n"
        "    with: {output: [yes, no, on, off, True, FALSE, 'true']}\n"
    )
    step = workflow.steps[0]
    assert step.continue_on_error is True
    assert step.with_["output"] == ["yes", "no", "on", "off", True, False, "true"]


def test_control_characters_are_a_problem_not_a_crash() -> None:
    import pytest

    from executor.errors import WorkflowInvalid
    from executor.workflow import parse_workflow

    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow("name: a\x08\nsteps: []\n")
    [problem] = caught.value.problems
    assert "#x0008" in problem.message


def test_lone_surrogates_are_refused_whole() -> None:
    import pytest

    from executor.errors import WorkflowInvalid
    from executor.workflow import parse_workflow

    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow('{"\\uD800": 1}')
    [problem] = caught.value.problems
    assert "not valid Unicode" in problem.message


def test_the_longest_duration_is_100_years() -> None:
    assert parse_workflow(HEAD + STEP_A + "timeout: 36500d\n", "test.yaml").timeout == MAX_SECONDS
    for written in ("36500.5d", "3153600001", "1e20", "52560001m"):
        with pytest.raises(ValueError, match="longer than 100 years"):
            parse_duration(written)

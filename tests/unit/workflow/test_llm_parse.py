"""`llm` steps and the workflow's `budget` as the parser checks them, at load time, each
problem with its path and line."""

from __future__ import annotations

import pytest

from executor.errors import WorkflowInvalid
from executor.workflow import Workflow, parse_workflow

HEAD = "name: demo\nsteps:\n"


def problems_of(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, "test.yaml")
    return [(p.path, p.line, p.message) for p in caught.value.problems]


def llm_step(with_: str) -> str:
    return HEAD + f"  - id: ask\n    action: llm\n    with:\n{with_}"


def test_a_prompt_or_messages_step_parses() -> None:
    workflow = parse_workflow(
        llm_step(
            "      model: gpt-4o-mini\n"
            "      system: Be brief.\n"
            "      prompt: '{{ inputs.q }}'\n"
            "      temperature: 0\n"
            "      max_tokens: 100\n"
            "      timeout: 30s\n"
            "      api_key: '{{ secrets.OPENAI_API_KEY }}'\n"
            "      response_schema: {type: object, properties: {a: {type: string}}}\n"
        )
    )
    assert workflow.steps[0].with_["model"] == "gpt-4o-mini"
    parse_workflow(
        llm_step(
            "      model: m\n"
            "      messages:\n"
            "        - {role: system, content: Be brief.}\n"
            "        - {role: '{{ inputs.role }}', content: '{{ inputs.q }}'}\n"
        )
    )
    parse_workflow(llm_step("      model: m\n      messages: '{{ inputs.conversation }}'\n"))


@pytest.mark.parametrize(
    ("with_", "path", "message"),
    [
        ("      prompt: hi\n", "steps[0].with.model", "is required"),
        ("      model: m\n", "steps[0].with.prompt", "give exactly one of messages or prompt"),
        (
            "      model: m\n      prompt: hi\n      messages: [{role: user, content: hi}]\n",
            "steps[0].with.prompt",
            "give exactly one of messages or prompt",
        ),
        (
            "      model: m\n      system: s\n      messages: [{role: user, content: hi}]\n",
            "steps[0].with.system",
            "goes with prompt; with messages, make it the first message",
        ),
        ("      model: m\n      messages: []\n", "steps[0].with.messages", "must hold at least one message"),
        (
            "      model: m\n      messages: [{role: robot, content: hi}]\n",
            "steps[0].with.messages[0].role",
            "'robot' is not one of system, developer, user, assistant, tool",
        ),
        (
            "      model: m\n      messages: [{role: user}]\n",
            "steps[0].with.messages[0].content",
            "is required",
        ),
        (
            "      model: m\n      messages: [hello]\n",
            "steps[0].with.messages[0]",
            "must be a mapping with role and content",
        ),
        (
            "      model: m\n      prompt: hi\n      temperature: 3\n",
            "steps[0].with.temperature",
            "3 is not from 0 to 2",
        ),
        (
            "      model: m\n      prompt: hi\n      max_tokens: 0\n",
            "steps[0].with.max_tokens",
            "must be at least 1",
        ),
        (
            "      model: m\n      prompt: hi\n      base_url: api.openai.com\n",
            "steps[0].with.base_url",
            "'api.openai.com' is not an http:// or https:// URL",
        ),
        (
            "      model: m\n      prompt: hi\n      response_schema: {type: objekt}\n",
            "steps[0].with.response_schema.type",
            "invalid JSON Schema: 'objekt' is not valid under any of the given schemas",
        ),
        (
            "      model: m\n      prompt: hi\n      timeout: soon\n",
            "steps[0].with.timeout",
            "must be a duration",
        ),
        (
            "      model: m\n      prompt: hi\n      timeout: 0s\n",
            "steps[0].with.timeout",
            "must be longer than 0",
        ),
        (
            "      model: m\n      prompt: hi\n      timeout: 0\n",
            "steps[0].with.timeout",
            "must be longer than 0",
        ),
        ("      model: ' '\n      prompt: hi\n", "steps[0].with.model", "must name a model"),
    ],
)
def test_an_llm_step_is_checked_at_load(with_: str, path: str, message: str) -> None:
    found = problems_of(llm_step(with_))
    assert any(where == path and message in text for where, _, text in found), found


def test_a_budget_is_a_workflow_key_kept_in_the_definition() -> None:
    workflow = parse_workflow(HEAD + "  - id: a\n    action: noop\nbudget: {usd: 5}\n")
    assert workflow.budget == 5.0
    assert workflow.to_json()["budget"] == {"usd": 5.0}
    assert Workflow.from_json(workflow.to_json()) == workflow


def test_a_workflow_without_budget_keeps_its_digest() -> None:
    workflow = parse_workflow(HEAD + "  - id: a\n    action: noop\n")
    assert "budget" not in workflow.to_json()
    budgeted = parse_workflow(HEAD + "  - id: a\n    action: noop\nbudget: {usd: 1}\n")
    assert budgeted.digest != workflow.digest


@pytest.mark.parametrize(
    ("budget", "path", "message"),
    [
        ("5", "budget", "must be a mapping, e.g. {usd: 5}, not a number"),
        ("{}", "budget.usd", "is required: the USD a run may spend on llm calls"),
        ("{usd: 0}", "budget.usd", "must be a number of USD above 0 and at most 1e+09, not 0"),
        ("{usd: -1}", "budget.usd", "must be a number of USD above 0"),
        ("{usd: five}", "budget.usd", "not 'five'"),
        ("{usd: .nan}", "budget.usd", "'.nan' is not a finite number"),
        ("{usd: 1, tokens: 5}", "budget.tokens", "unknown key (expected one of: usd)"),
    ],
)
def test_a_bad_budget_is_named_with_its_line(budget: str, path: str, message: str) -> None:
    found = problems_of(HEAD + f"  - id: a\n    action: noop\nbudget: {budget}\n")
    assert any(p == path and line == 5 and message in m for p, line, m in found), found

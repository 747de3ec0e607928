"""Warnings: outside values (run inputs, step outputs and signal payloads, for_each items from
them) pasted into a shell script, found in the templates' syntax trees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from executor.workflow import Problem, lint, parse_definition, parse_workflow
from executor.workflow.lint import as_line

ROOT = Path(__file__).resolve().parents[3]


def shell(command: object, **step: object) -> str:
    """A workflow whose step `s` (needing `a`, whose output is outside data) runs ``command``."""
    definition = {
        "name": "demo",
        "steps": [
            {"id": "a", "action": "noop"},
            {"id": "s", "action": "shell", "needs": ["a"], "with": {"command": command}, **step},
        ],
    }
    return json.dumps(definition)  # JSON is YAML: one line, so every warning is on line 1


def warnings_of(source: str) -> list[str]:
    return [warning.message.split(" pasted", 1)[0] for warning in lint(parse_workflow(source), source=source)]


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("echo {{ inputs.host }}", "inputs.host is"),
        ("deploy {{ steps.a.output.version }} {{ inputs.env }}", "inputs.env, steps.a.output.version are"),
        ("echo {{ inputs['host'] }} {{ inputs.hosts[0] }}", "inputs.host, inputs.hosts[0] are"),
        ("{{ inputs.script }}", "inputs.script is"),
        ("echo {{ steps.a.output | default('none') | upper }}", "steps.a.output is"),
        ("{% set h = inputs.host %}ping {{ h }}", "h is"),
        ("{% for h in inputs.hosts %}ping {{ h }};{% endfor %}", "h is"),
        ("echo {{ 'x' if inputs.quiet else inputs.message }}", "inputs.message is"),
        ("echo {{ steps.a }}", "steps.a is"),
    ],
)
def test_outside_values_pasted_into_a_command_string_are_named(command: str, named: str) -> None:
    assert warnings_of(shell(command)) == [named]


@pytest.mark.parametrize(
    "command",
    [
        "echo hello",
        'echo "$HOST"',
        "echo {{ run.id }} {{ run.workflow }} {{ secrets.TOKEN }}",
        "make {% if inputs.verbose %}-v{% endif %} build",
        "sleep {{ inputs.seconds | int }}; echo {{ inputs.hosts | length }}",
        "echo {{ steps.a.status }}",
        "echo {{ inputs.count > 3 }} {{ inputs.name is defined }} {{ not inputs.flag }}",
        "{% for i in range(inputs.count | int) %}echo {{ i }};{% endfor %}",
    ],
)
def test_what_cannot_carry_code_is_not_warned_about(command: str) -> None:
    assert warnings_of(shell(command)) == []


def test_the_safe_forms_are_not_warned_about() -> None:
    assert warnings_of(shell(["echo", "{{ inputs.host }}", "{{ steps.a.output }}"])) == []
    with_env = {"command": 'echo "$HOST"', "env": {"HOST": "{{ inputs.host }}"}}
    assert warnings_of(shell("", **{"with": with_env})) == []


@pytest.mark.parametrize(
    ("argv", "index"),
    [
        (["sh", "-c", "echo {{ inputs.host }}"], 2),
        (["/bin/bash", "-euo", "pipefail", "-c", "echo {{ inputs.host }}", "name"], 4),
        (["bash", "-ec", "echo {{ inputs.host }}"], 2),
        (["env", "LANG=C", "sh", "-c", "echo {{ inputs.host }}"], 4),
    ],
)
def test_an_argv_list_that_runs_a_shell_script_is_checked_like_a_string(argv: list[str], index: int) -> None:
    [warning] = lint(parse_workflow(shell(argv)))
    assert warning.path == f"steps[1].with.command[{index}]"


def test_the_arguments_after_a_shell_script_are_data() -> None:
    argv = ["sh", "-c", 'echo "$1"', "sh", "{{ inputs.host }}"]
    assert warnings_of(shell(argv)) == []
    assert warnings_of(shell(["bash", "deploy.sh", "{{ inputs.host }}"])) == []


def test_item_is_outside_when_for_each_reads_outside_values() -> None:
    assert warnings_of(shell("echo {{ item }}", for_each="{{ inputs.hosts }}")) == ["item is"]
    assert warnings_of(shell("echo {{ item }}", for_each=["{{ steps.a.output }}", "b"])) == ["item is"]
    assert warnings_of(shell("echo {{ item }}", for_each=["a", "b"])) == []
    assert warnings_of(shell("echo {{ item }} {{ index }}", for_each="{{ range(inputs.count) }}")) == []


def test_only_shell_steps_are_checked() -> None:
    source = (
        '{"name": "demo", "steps": [{"id": "n", "action": "noop", "with": {"output": "{{ inputs.x }}"}}]}'
    )
    assert lint(parse_workflow(source), source=source) == []


def test_a_warning_has_the_file_the_line_the_path_and_the_safe_forms() -> None:
    source = (
        "name: demo\n"
        "steps:\n"
        "  - id: s\n"
        "    action: shell\n"
        "    with:\n"
        "      env: {X: '1'}\n"
        "      command: 'echo {{ inputs.host }}'\n"
    )
    [warning] = lint(parse_workflow(source, "demo.yaml"), source=source, filename="demo.yaml")
    assert (warning.file, warning.line, warning.path) == ("demo.yaml", 7, "steps[0].with.command")
    assert "argv list" in warning.message and "env" in warning.message and '"$NAME"' in warning.message
    assert as_line(warning).startswith("demo.yaml:7: warning: steps[0].with.command: inputs.host is pasted")


def test_a_json_definition_has_paths_but_no_lines() -> None:
    workflow = parse_definition(
        {
            "name": "demo",
            "steps": [{"id": "s", "action": "shell", "with": {"command": "echo {{ inputs.x }}"}}],
        }
    )
    assert lint(workflow) == [Problem("steps[0].with.command", None, lint(workflow)[0].message)]
    assert as_line(lint(workflow)[0]).startswith("warning: steps[0].with.command: inputs.x is")


def test_our_examples_and_docs_use_the_safe_forms() -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        source = path.read_text()
        assert lint(parse_workflow(source, path.name), source=source) == [], path.name
    # The complete example of docs/workflows.md (test_parser checks that it is this file).
    source = (Path(__file__).parent / "release.yaml").read_text()
    assert lint(parse_workflow(source), source=source) == []


def test_inputs_the_schema_makes_numbers_booleans_or_the_authors_own_values_are_not_warned_about() -> None:
    schema = {
        "type": "object",
        "properties": {
            "replicas": {"type": "integer"},
            "ratio": {"type": ["number", "null"]},
            "dry_run": {"type": "boolean"},
            "env": {"enum": ["staging", "production"]},
            "ports": {"type": "array", "items": {"type": "integer"}},
            "name": {"type": "string"},
        },
    }
    flow = json.dumps(
        {
            "name": "demo",
            "inputs": schema,
            "steps": [
                {
                    "id": "s",
                    "action": "shell",
                    "with": {
                        "command": "scale {{ inputs.replicas + 1 }} {{ inputs.ratio }} {{ inputs.dry_run }} "
                        "{{ inputs.env }} {{ inputs.ports[0] }} {{ inputs.name }} {{ inputs.other }}"
                    },
                }
            ],
        }
    )
    assert warnings_of(flow) == ["inputs.name, inputs.other are"]

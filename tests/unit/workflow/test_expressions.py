from __future__ import annotations

from typing import Any

import pytest

from executor.errors import ExpressionError
from executor.workflow import Masker, build_context, render
from executor.workflow.expressions import compile_problems, is_true, secrets_from_environ


@pytest.fixture
def context() -> dict[str, Any]:
    return build_context(
        inputs={
            "service": "api",
            "replicas": 3,
            "hosts": ["a", "b"],
            "flags": {"fast": True},
            "items": [1, 2],
        },
        steps={"build": {"output": {"version": "1.2.3", "ok": False}, "status": "succeeded"}},
        run_id="run-1",
        workflow="release",
        secrets={"TOKEN": "s3cret"},
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ inputs.hosts }}", ["a", "b"]),
        ("{{ inputs.replicas }}", 3),
        ("{{inputs.replicas * 2}}", 6),
        ("{{ inputs.flags }}", {"fast": True}),
        ("{{ steps.build.output.ok }}", False),
        ("{{ inputs.missing | default(None) }}", None),
        ("{{ range(inputs.replicas) }}", [0, 1, 2]),
        ("{{ inputs.hosts | map('upper') }}", ["A", "B"]),
        ("{{- inputs.replicas -}}", 3),
        ("{{ run.id }}", "run-1"),
        ("{{ secrets.TOKEN }}", "s3cret"),
    ],
)
def test_a_whole_expression_keeps_its_type(context: dict[str, Any], template: str, expected: Any) -> None:
    assert render(template, context) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("v{{ steps.build.output.version }}", "v1.2.3"),
        ("{{ inputs.replicas }} replicas", "3 replicas"),
        (" {{ inputs.replicas }}", " 3"),
        ("{{ inputs.replicas }}{{ inputs.replicas }}", "33"),
        ("{% for h in inputs.hosts %}{{ h }},{% endfor %}", "a,b,"),
        ("{{ run.workflow }}\n", "release\n"),
        ("no template", "no template"),
    ],
)
def test_other_templates_render_to_strings(context: dict[str, Any], template: str, expected: str) -> None:
    assert render(template, context) == expected


def test_render_walks_structures_and_copies(context: dict[str, Any]) -> None:
    value = {"url": "http://x/{{ inputs.service }}", "list": ["{{ inputs.hosts }}", 1, None], "n": 2.5}
    rendered = render(value, context)
    assert rendered == {"url": "http://x/api", "list": [["a", "b"], 1, None], "n": 2.5}
    rendered["list"][0].append("c")
    assert context["inputs"]["hosts"] == ["a", "b"]
    assert value["url"] == "http://x/{{ inputs.service }}"


def test_item_index_and_result_exist_only_when_given() -> None:
    base: dict[str, Any] = {"inputs": {}, "steps": {}, "run_id": "r", "workflow": "w", "secrets": {}}
    assert set(build_context(**base)) == {"inputs", "steps", "run", "schedule", "secrets"}
    context = build_context(**base, item="host-a", index=0, result={"exit_code": 0})
    assert render("{{ item }}#{{ index }}", context) == "host-a#0"
    assert render("{{ result.exit_code }}", context) == 0
    assert render("{{ item }}", build_context(**base, item=None)) is None


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ steps.build.output.version.major }}", "has no attribute 'major'"),
        ("{{ steps.build.output.missing }}", "'dict object' has no attribute 'missing'"),
        ("deploy {{ nothing }}", "'nothing' is undefined"),
        ("{{ [inputs.nope] }}", "has no attribute 'nope'"),
        ("{{ 1 / 0 }}", "division by zero"),
        ("{{ inputs.service + 1 }}", "can only concatenate"),
        ("{{ secrets.OTHER }}", "has no attribute 'OTHER'"),
        ("{{ range }}", "not a JSON value"),
    ],
)
def test_rendering_errors_name_the_template(context: dict[str, Any], template: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        render({"deep": [template]}, context)
    assert caught.value.message.startswith(f"{template}: ")
    assert reason in caught.value.message
    assert caught.value.code == "expression_error"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.__init__.__globals__ }}",
        "{{ inputs.items.append(1) }}",
        "{{ inputs['items'].append(1) }}",
        "{{ inputs.hosts.pop() }}",
        "{{ inputs.flags.update({'fast': False}) }}",
        "{% set x = inputs.hosts.clear() %}",
        "{{ range(10 ** 9) }}",
    ],
)
def test_the_sandbox_blocks_introspection_and_mutation(context: dict[str, Any], template: str) -> None:
    with pytest.raises(ExpressionError):
        render(template, context)
    assert context["inputs"]["items"] == [1, 2]
    assert context["inputs"]["hosts"] == ["a", "b"]
    assert context["inputs"]["flags"] == {"fast": True}


def test_compile_problems_are_located() -> None:
    problems = compile_problems({"a": {"b": ["ok {{ x }}", "{{ x "]}, "c": "{% if %}", "d": "plain {"})
    assert [path for path, _ in problems] == ["a.b[1]", "c"]
    assert all("does not compile" in message for _, message in problems)
    assert compile_problems("{{ }}")[0][0] == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (None, False),
        (0, False),
        (1, True),
        ([], False),
        (["x"], True),
        ("true", True),
        ("yes", True),
        ("anything", True),
        ("false", False),
        (" False ", False),
        ("NO", False),
        ("0", False),
        ("", False),
        ("  ", False),
    ],
)
def test_when_truthiness(value: Any, expected: bool) -> None:
    assert is_true(value) is expected


def test_when_through_string_concatenation(context: dict[str, Any]) -> None:
    assert is_true(render("{{ steps.build.output.ok }}", context)) is False
    assert is_true(render("{{ steps.build.output.ok }} ", context)) is False
    assert is_true(render("{{ inputs.replicas > 2 }}", context)) is True


def test_secrets_come_from_prefixed_variables() -> None:
    environ = {
        "EXECUTOR_SECRET_TOKEN": "abc",
        "EXECUTOR_SECRET_": "ignored",
        "EXECUTOR_PORT": "1",
        "PATH": "/bin",
    }
    assert secrets_from_environ(environ) == {"TOKEN": "abc"}


def test_masking_replaces_secrets_everywhere() -> None:
    masker = Masker({"A": "s3cret", "B": "s3cret-long", "EMPTY": ""})
    value = {
        "stdout": "token=s3cret-long and s3cret",
        "s3cret": ["x s3cret y", {"nested": "s3crets3cret"}, 5, None, True],
        "n": 1.5,
    }
    assert masker.mask(value) == {
        "stdout": "token=*** and ***",
        "***": ["x *** y", {"nested": "******"}, 5, None, True],
        "n": 1.5,
    }
    assert value["stdout"] == "token=s3cret-long and s3cret"
    assert masker.mask("a.b") == "a.b"  # secrets are text, not patterns


def test_a_masker_without_secrets_returns_the_value_itself() -> None:
    value = {"stdout": "anything"}
    assert Masker({}).mask(value) is value
    assert Masker({"EMPTY": ""}).mask(value) is value


def test_a_cut_never_splits_a_secret() -> None:
    masker = Masker({"A": "secret", "B": "et-more"})
    data = b"xxxx" + b"secret-more" + b"yy"
    assert masker.safe_cut(data, 2) == 2  # nothing spans it
    assert masker.safe_cut(data, 7) == 4  # inside "secret": before it
    # Inside "et-more", which starts inside "secret": before both.
    assert masker.safe_cut(data, 12) == 4
    assert masker.safe_cut(b"secret", 3) == 3, "nothing earlier will do: the cut stays"
    assert Masker({}).safe_cut(data, 7) == 7

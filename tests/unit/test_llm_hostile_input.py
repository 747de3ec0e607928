"""What an `llm` step and the price file take from people and servers, checked before a
call is paid for: schemas a reply could never be checked against, a price file's broken
line, JSON numbers YAML reads as text, and a server's absurd usage counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.actions import llm
from executor.actions.prices import Price, load_prices
from executor.errors import WorkflowInvalid
from executor.workflow import parse_workflow

STEP = "name: demo\nsteps:\n  - id: ask\n    action: llm\n    with:\n      model: m\n      prompt: hi\n"


@pytest.mark.parametrize(
    ("schema", "path", "message"),
    [
        (
            "{type: object, properties: {a: {type: string, pattern: '('}}}",
            "steps[0].with.response_schema.properties.a.pattern",
            "invalid JSON Schema: '(' is not a 'regex'",
        ),
        (
            "{$ref: 'https://example.com/reply.json'}",
            "steps[0].with.response_schema.$ref",
            "'https://example.com/reply.json' points nowhere in the schema",
        ),
        (
            "{type: object, properties: {a: {$ref: '#/$defs/missing'}}}",
            "steps[0].with.response_schema.properties.a.$ref",
            "'#/$defs/missing' points nowhere in the schema",
        ),
    ],
)
def test_a_schema_no_reply_could_be_checked_against_is_refused_at_load(
    schema: str, path: str, message: str
) -> None:
    """Such a schema failed each attempt, after its call, with an "internal error"."""
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(STEP + f"      response_schema: {schema}\n", "test.yaml")
    assert [(p.path, p.line, p.message) for p in caught.value.problems] == [(path, 8, message)]


def test_a_schema_with_references_inside_it_loads() -> None:
    parse_workflow(
        STEP + "      response_schema:\n"
        "        $defs: {point: {type: object, properties: {x: {type: number}}}}\n"
        "        type: array\n"
        "        items: {$ref: '#/$defs/point'}\n",
        "test.yaml",
    )


def test_a_price_file_that_does_not_parse_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("gpt-4o: {input: 2.5, output: 10}\nbroken: {input: [1, output: 2}\n")
    with pytest.raises(ValueError, match=r"prices.yaml is not YAML or JSON \(line 2\): expected ','"):
        load_prices(str(path))


def test_a_json_price_file_may_write_numbers_with_exponents(tmp_path: Path) -> None:
    """YAML 1.1 reads 1e-1 as text: a JSON price file was refused for it."""
    path = tmp_path / "prices.json"
    path.write_text('{"gpt-4o-mini": {"input": 1.5e-1, "output": 6e-1}}')
    assert load_prices(str(path)) == {"gpt-4o-mini": Price(0.15, 0.6)}


@pytest.mark.parametrize(
    ("reported", "counted"),
    [
        ({"prompt_tokens": 10**30, "completion_tokens": 2**63}, (llm.MAX_TOKENS, llm.MAX_TOKENS, 0, 0)),
        ({"prompt_tokens": 12.0, "completion_tokens": 5}, (12, 5, 0, 0)),
        ({"prompt_tokens": "12", "completion_tokens": -5}, (0, 0, 0, 0)),
        (
            {
                "prompt_tokens": 10,
                "completion_tokens": 4,
                "prompt_tokens_details": {"cached_tokens": 50},
                "completion_tokens_details": {"reasoning_tokens": 9},
            },
            (10, 4, 10, 4),
        ),
    ],
)
def test_usage_a_server_reports_is_counted_within_bounds(
    reported: dict[str, object], counted: tuple[int, int, int, int]
) -> None:
    usage = llm._usage({"usage": reported})
    kinds = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")
    assert tuple(usage[kind] for kind in kinds) == counted

"""The start-run form's generator: fields from an input schema, their texts turned into an
input, and the engine's errors about that input placed next to the fields they name."""

from __future__ import annotations

from typing import Any

import pytest

from executor.errors import InputInvalid
from executor.http.ui import diff, forms
from executor.workflow.inputs import apply_input

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["who", "times"],
    "properties": {
        "who": {"type": "string", "title": "Who", "description": "The one to greet"},
        "tone": {"type": "string", "enum": ["warm", "formal"], "default": "formal"},
        "times": {"type": "integer", "minimum": 1, "maximum": 9},
        "ratio": {"type": "number"},
        "loud": {"type": "boolean", "default": True},
        "tags": {"type": "array", "items": {"type": "string"}},
        "meta": {"type": "object", "default": {"a": 1}},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "maybe": {"type": ["string", "null"]},
        "level": {"enum": [1, 2, 3]},
    },
}


def by_name(found: list[forms.Field]) -> dict[str, forms.Field]:
    return {f.name: f for f in found}


def test_each_property_gets_the_field_its_type_calls_for() -> None:
    found = by_name(forms.fields(SCHEMA))
    kinds = {name: f.kind for name, f in found.items()}
    assert kinds == {
        "who": "text",
        "tone": "select",
        "times": "integer",
        "ratio": "number",
        "loud": "checkbox",
        "tags": "json",
        "meta": "json",
        "either": "json",
        "maybe": "json",
        "level": "select",
    }
    assert found["who"].label == "Who" and found["who"].help == "The one to greet"
    assert found["who"].required and found["times"].required and not found["tone"].required
    assert (found["times"].minimum, found["times"].maximum) == (1, 9)
    assert found["tone"].options == (('"warm"', "warm"), ('"formal"', "formal"))
    assert found["level"].options == (("1", "1"), ("2", "2"), ("3", "3"))
    # Element ids come from positions: a property may be named anything.
    assert [f.id for f in forms.fields(SCHEMA)][:2] == ["input-0", "input-1"]


@pytest.mark.parametrize(
    "schema",
    [None, {}, {"type": "object"}, {"type": "array", "items": {}}, {"properties": "no"}, True],
)
def test_a_schema_without_properties_makes_no_fields(schema: Any) -> None:
    assert forms.fields(schema) == []


def test_defaults_fill_the_fields_and_the_json_text() -> None:
    found = forms.fields(SCHEMA)
    values = forms.initial_values(found)
    assert values["input.who"] == ""
    assert values["input.tone"] == '"formal"'
    assert values["input.loud"] == "on"
    assert values["input.meta"] == '{\n  "a": 1\n}'
    assert values[forms.RAW] == '{\n  "tone": "formal",\n  "loud": true,\n  "meta": {\n    "a": 1\n  }\n}'


def test_texts_become_the_input() -> None:
    found = forms.fields(SCHEMA)
    value, errors = forms.read(
        found,
        {
            "input.who": "<b>ada</b>",
            "input.tone": '"warm"',
            "input.times": "3",
            "input.ratio": "0.5",
            "input.tags": '["a", "b"]',
            "input.level": "2",
            "input.either": "",
        },
    )
    assert errors == {}
    # Empty fields are left out (their defaults apply); an unchecked box is false.
    assert value == {
        "who": "<b>ada</b>",
        "tone": "warm",
        "times": 3,
        "ratio": 0.5,
        "loud": False,
        "tags": ["a", "b"],
        "level": 2,
    }


def test_what_cannot_be_converted_is_passed_on_for_the_schema_to_name() -> None:
    found = forms.fields(SCHEMA)
    value, errors = forms.read(found, {"input.times": "many", "input.ratio": "nan", "input.tone": "loud"})
    assert errors == {}
    assert (value["times"], value["ratio"], value["tone"]) == ("many", "nan", "loud")
    assert forms.read(found, {"input.times": "2.5"})[0]["times"] == 2.5


def test_text_that_should_be_json_and_is_not_is_an_error_of_its_field() -> None:
    _, errors = forms.read(forms.fields(SCHEMA), {"input.tags": "[1,"})
    assert list(errors) == ["input.tags"]
    assert errors["input.tags"].startswith("not valid JSON")


def test_raw_json() -> None:
    assert forms.read_raw("") == ({}, {})
    assert forms.read_raw(' {"a": [1]} ') == ({"a": [1]}, {})
    value, errors = forms.read_raw("{nope")
    assert value is None and errors[forms.GENERAL].startswith("the input is not valid JSON")


def problems_of(schema: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    with pytest.raises(InputInvalid) as raised:
        apply_input(schema, value)
    return raised.value.problems


def test_the_engines_errors_land_next_to_their_fields() -> None:
    found = forms.fields(SCHEMA)
    value, _ = forms.read(found, {"input.times": "0", "input.tags": "[1]"})
    # The real validator's messages, so the "required" wording is the one `place` expects.
    placed = forms.place(problems_of(SCHEMA, value), found)
    assert set(placed) == {"input.who", "input.times", "input.tags"}
    assert "required" in placed["input.who"]
    assert "minimum" in placed["input.times"]
    assert "not of type 'string'" in placed["input.tags"]


def test_errors_no_field_owns_are_general_and_keep_their_path() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    placed = forms.place(problems_of(schema, {"b": 1}), forms.fields(schema))
    assert list(placed) == [forms.GENERAL]
    assert "'b' was unexpected" in placed[forms.GENERAL]
    assert forms.place([("$.x.y", "bad")], []) == {forms.GENERAL: "$.x.y: bad"}


def test_a_property_whose_name_has_a_dot_owns_its_own_errors() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object"}, "a.b": {"type": "integer"}}}
    found = forms.fields(schema)
    assert forms.place([("$.a.b", "x")], found) == {"input.a.b": "x"}
    assert forms.place([("$.a.c", "y"), ("$.a[0]", "z")], found) == {"input.a": "y; z"}


def test_diff_marks_each_line() -> None:
    lines = diff.unified("a\n--x\nc\n", "a\nb\nc\n", "v1", "v2")
    assert lines == [
        ("file", "--- v1"),
        ("file", "+++ v2"),
        ("hunk", "@@ -1,3 +1,3 @@"),
        ("ctx", " a"),
        ("del", "---x"),
        ("add", "+b"),
        ("ctx", " c"),
    ]
    assert diff.unified("same", "same", "v1", "v2") == []

from __future__ import annotations

from typing import Any

import pytest

from executor.errors import InputInvalid
from executor.workflow import apply_input, load_workflow_file

from .test_parser import RELEASE

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["service"],
    "properties": {
        "service": {"type": "string"},
        "replicas": {"type": "integer", "minimum": 1, "default": 2},
        "database": {
            "type": "object",
            "properties": {"port": {"type": "integer", "default": 5432}, "name": {"type": "string"}},
        },
        "cache": {
            "type": "object",
            "default": {},
            "properties": {"size": {"type": "integer", "default": 64}},
        },
        "hosts": {
            "type": "array",
            "items": {"type": "object", "properties": {"weight": {"type": "integer", "default": 1}}},
        },
    },
}


def test_defaults_are_applied_recursively_to_a_copy() -> None:
    given = {"service": "api", "database": {"name": "main"}, "hosts": [{}, {"weight": 5}]}
    assert apply_input(SCHEMA, given) == {
        "service": "api",
        "replicas": 2,
        "database": {"name": "main", "port": 5432},
        "cache": {"size": 64},  # a default object gets its own properties' defaults
        "hosts": [{"weight": 1}, {"weight": 5}],
    }
    assert given == {"service": "api", "database": {"name": "main"}, "hosts": [{}, {"weight": 5}]}


def test_given_values_win_over_defaults() -> None:
    value = apply_input(SCHEMA, {"service": "api", "replicas": 7, "cache": {"size": 1}})
    assert (value["replicas"], value["cache"]) == (7, {"size": 1})


def test_the_release_example_input() -> None:
    workflow = load_workflow_file(RELEASE)
    assert apply_input(workflow.inputs, {"service": "api"}) == {"service": "api", "replicas": 2}


def test_every_error_is_reported_with_its_json_path() -> None:
    with pytest.raises(InputInvalid) as caught:
        apply_input(SCHEMA, {"replicas": "three", "database": {"port": 0.5}})
    assert caught.value.problems == [
        ("$", "'service' is a required property"),
        ("$.database.port", "0.5 is not of type 'integer'"),
        ("$.replicas", "'three' is not of type 'integer'"),
    ]
    assert caught.value.code == "invalid_input"
    assert caught.value.http_status == 422
    assert caught.value.message.startswith("invalid input: $: 'service' is a required property; ")


def test_no_input_means_an_empty_object() -> None:
    assert apply_input({"type": "object", "properties": {"n": {"default": 1}}}, None) == {"n": 1}
    with pytest.raises(InputInvalid) as caught:
        apply_input(SCHEMA, None)
    assert caught.value.problems == [("$", "'service' is a required property")]


def test_without_a_schema_any_object_is_accepted() -> None:
    value = {"anything": [1, 2]}
    assert apply_input(None, value) is value
    assert apply_input(None, None) == {}
    for bad in ([1], "text", 3):
        with pytest.raises(InputInvalid) as caught:
            apply_input(None, bad)
        assert caught.value.problems == [("$", "must be a JSON object")]

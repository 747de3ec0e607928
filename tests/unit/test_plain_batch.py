"""The fast check of POST /runs/batch bodies (`schemas.plain_batch`) never lets through what
the request's schema refuses, and takes the usual requests."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from executor.http import schemas

VALIDATOR = Draft202012Validator(schemas.BATCH_REQUEST)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
# Each field's values at and around its bounds: (taken, refused or of another type).
near: dict[str, tuple[list[Any], list[Any]]] = {
    "workflow": (["a", "é", "x" * 64], ["", "x" * 65, "a\x00", 5, None, ["a"]]),
    "version": ([1, 2**31 - 1], [0, -1, 2**31, 2.0, True, "1", None]),
    "priority": ([0, -1000, 1000], [-1001, 1001, 1.5, False, None]),
    "idempotency_key": (["k", "k" * 200], ["", "k" * 201, "a\x00b", 7, None]),
    "input": ([{}, {"a": [1, None]}], [[], None, "x", 0]),
    "inputs": ([], [{}]),
}


valid_runs = st.fixed_dictionaries(
    {"workflow": st.sampled_from(near["workflow"][0])},
    optional={
        name: st.sampled_from(taken) for name, (taken, _) in near.items() if taken and name != "workflow"
    },
)
# A valid run with one field set to a value the schema refuses (or of another type).
near_runs = valid_runs.flatmap(
    lambda run: st.sampled_from(list(near)).flatmap(
        lambda name: st.sampled_from(near[name][1]).map(lambda value: {**run, name: value})
    )
)
runs = (
    valid_runs
    | near_runs
    | st.dictionaries(st.sampled_from(list(near)), json_values, max_size=3)
    | json_values
)
bodies = (
    st.fixed_dictionaries({"runs": st.lists(runs, max_size=3)})
    | st.fixed_dictionaries({"runs": st.lists(runs, max_size=2)}, optional={"dry_run": json_values})
    | json_values
)


@settings(max_examples=2000, deadline=None)
@given(bodies)
def test_what_it_takes_the_schema_takes(body: Any) -> None:
    if schemas.plain_batch(body):
        assert VALIDATOR.is_valid(body), body


def test_it_takes_the_usual_requests() -> None:
    usual = [
        {"workflow": "nightly"},
        {"workflow": "nightly", "input": {"day": "2026-11-01", "n": [1, 2.5]}, "idempotency_key": "k" * 200},
        {"workflow": "w" * 64, "version": 2**31 - 1, "priority": -1000, "input": {}},
    ]
    assert schemas.plain_batch({"runs": usual})
    assert schemas.plain_batch({"runs": usual * 333 + usual[:1]})  # 1,000
    assert not schemas.plain_batch({"runs": usual * 334})  # 1,002: the validator refuses it
    assert not schemas.plain_batch({"runs": [{"workflow": "a", "version": 2.0}]})  # the validator takes it


def test_it_knows_every_keyword_of_a_run_request() -> None:
    """A keyword added to RUN_REQUEST's fields (an enum, a format) must be checked by
    `_plain_run` too: this fails until it is."""
    known = {"type", "minLength", "maxLength", "pattern", "minimum", "maximum"}
    fields: dict[str, dict[str, Any]] = schemas.RUN_REQUEST["properties"]  # type: ignore[assignment]
    for name, field in fields.items():
        assert set(field) <= known, (name, set(field) - known)
        assert field["type"] in ("string", "integer", "object"), name
        assert field.get("pattern", schemas.NO_NUL) == schemas.NO_NUL, name
    assert set(schemas.RUN_REQUEST) == {"type", "required", "additionalProperties", "properties"}
    assert (
        schemas.RUN_REQUEST["required"] == ["workflow"]
        and schemas.RUN_REQUEST["additionalProperties"] is False
    )

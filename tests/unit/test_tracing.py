"""The trace ids of a run are derived, so that every instance agrees on them; a `traceparent`
is read as W3C Trace Context says (an invalid one is dropped)."""

from __future__ import annotations

import uuid

import pytest

from executor import tracing
from executor.tracing import TraceParent, parse_traceparent, run_trace

GIVEN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_round_trips() -> None:
    parsed = parse_traceparent(GIVEN)
    assert parsed == TraceParent(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True)
    assert str(parsed) == GIVEN
    assert parse_traceparent(GIVEN.upper()) == parsed
    unsampled = parse_traceparent(GIVEN[:-2] + "00")
    assert unsampled is not None and not unsampled.sampled
    # A later version may add fields; ours are read and the rest ignored.
    assert parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") == parsed


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # version 00 has 4 fields
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short
    ],
)
def test_an_invalid_traceparent_is_dropped(text: str | None) -> None:
    assert parse_traceparent(text) is None


def test_a_run_span_has_the_same_ids_wherever_and_whenever_it_is_computed() -> None:
    run_id = str(uuid.uuid4())
    with_parent = run_trace(run_id, GIVEN)
    assert with_parent == run_trace(run_id, GIVEN)
    assert with_parent.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert with_parent.parent == parse_traceparent(GIVEN)
    own = run_trace(run_id, None)
    assert own.trace_id == uuid.UUID(run_id).int and own.parent is None and own.sampled
    assert own.span_id == with_parent.span_id != run_trace(str(uuid.uuid4()), None).span_id
    assert 0 < own.span_id < 2**64


def test_without_an_endpoint_nothing_starts_and_every_call_is_a_no_op() -> None:
    assert not tracing.start("instance", environ={})
    assert not tracing.enabled()
    assert tracing.current_traceparent() is None
    run_id = str(uuid.uuid4())
    attempt = tracing.start_attempt(run_id, None, step="s", item=-1, attempt=1, action="noop", workflow="w")
    assert attempt is None
    tracing.end_run(run_id, None, workflow="w", trigger="api", status="succeeded", start=0.0, end=1.0)
    tracing.shutdown()

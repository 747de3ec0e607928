"""What `llm` steps spend: every call recorded with its run, step, item and attempt (failed
ones too), the run's totals, the events metrics count, and a workflow's `budget`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from executor.actions import llm
from executor.actions.prices import Price
from executor.engine.events import LlmCallEvent
from executor.store.records import LlmTotals
from tests.support.checks import not_none
from tests.support.engine import Harness
from tests.support.fake_llm import FakeLlm, completion, error

# $2 per million input tokens, $8 per million output tokens: 1000 in + 200 out = $0.0036.
PRICES = {"fake-model": Price(input=2.0, output=8.0)}
CALL = completion("ok", input_tokens=1000, output_tokens=200, reasoning_tokens=30)


@pytest.fixture(autouse=True)
def prices() -> Iterator[None]:
    llm.prepare(prices=PRICES)
    yield
    llm.prepare()


async def test_every_call_is_recorded_with_its_attempt_failed_ones_too(harness: Harness) -> None:
    with FakeLlm(error(503, "overloaded", {"Retry-After": "0"}), CALL) as server:
        run_id = await harness.submit(
            """
name: accounted
steps:
  - id: ask
    action: llm
    retry: {max_attempts: 2, delay: 10ms}
    with: {model: fake-model, base_url: "{{ inputs.url }}", prompt: hi}
""",
            {"url": server.url},
        )
        run, _ = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    failed, succeeded = await harness.engine.llm_calls(run_id)
    assert (failed.step_id, failed.item_index, failed.attempt, failed.outcome) == ("ask", -1, 1, "failed")
    assert "answered 503: overloaded" in not_none(failed.error)
    assert (failed.input_tokens, failed.output_tokens, failed.cost_usd) == (0, 0, None)
    assert (succeeded.attempt, succeeded.outcome, succeeded.error, succeeded.model) == (
        2,
        "succeeded",
        None,
        "fake-model",
    )
    assert (succeeded.input_tokens, succeeded.output_tokens, succeeded.reasoning_tokens) == (1000, 200, 30)
    assert succeeded.cost_usd == 0.0036 and succeeded.seconds > 0
    assert await harness.engine.llm_totals(run_id) == LlmTotals(
        calls=2, input_tokens=1000, output_tokens=200, reasoning_tokens=30, cost_usd=0.0036
    )
    events = [event for event in harness.events if isinstance(event, LlmCallEvent)]
    assert [(e.run_id, e.model, e.input_tokens, e.cost_usd) for e in events] == [
        (run_id, "fake-model", 0, None),
        (run_id, "fake-model", 1000, 0.0036),
    ]


async def test_a_reply_that_breaks_the_schema_was_paid_for(harness: Harness) -> None:
    with FakeLlm(completion('{"n": "not a number"}', input_tokens=1000, output_tokens=200)) as server:
        run_id = await harness.submit(
            """
name: broken_reply
steps:
  - id: ask
    action: llm
    with:
      model: fake-model
      base_url: "{{ inputs.url }}"
      prompt: count
      response_schema: {type: object, properties: {n: {type: integer}}}
""",
            {"url": server.url},
        )
        run, _ = await harness.wait(run_id)
    assert run.status == "failed"
    [call] = await harness.engine.llm_calls(run_id)
    assert call.outcome == "failed" and "breaks response_schema at $.n" in not_none(call.error)
    assert (call.input_tokens, call.cost_usd) == (1000, 0.0036)


async def test_calls_of_for_each_items_are_charged_to_their_item(harness: Harness) -> None:
    with FakeLlm(default=CALL) as server:
        run_id = await harness.submit(
            """
name: per_item
steps:
  - id: ask
    action: llm
    for_each: [a, b, c]
    with: {model: fake-model, base_url: "{{ inputs.url }}", prompt: "{{ item }}"}
""",
            {"url": server.url},
        )
        run, _ = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    calls = await harness.engine.llm_calls(run_id)
    assert sorted(call.item_index for call in calls) == [0, 1, 2]
    totals = await harness.engine.llm_totals(run_id)
    assert (totals.calls, totals.input_tokens, round(totals.cost_usd, 9)) == (3, 3000, 0.0108)


BUDGETED = """
name: budgeted
budget: {usd: 0.005}
steps:
  - id: first
    action: llm
    with: {model: fake-model, base_url: "{{ inputs.url }}", prompt: one}
  - id: second
    action: llm
    needs: first
    with: {model: fake-model, base_url: "{{ inputs.url }}", prompt: two}
  - id: third
    action: llm
    needs: second
    retry: {max_attempts: 3, delay: 10ms}
    with: {model: fake-model, base_url: "{{ inputs.url }}", prompt: three}
  - id: other_work
    action: noop
    needs: second
"""


async def test_a_call_that_would_start_after_the_budget_is_spent_fails(harness: Harness) -> None:
    """$0.0036 a call against $0.005: the second call starts ($0.0036 spent), the third does
    not ($0.0072), and no retry mends that; steps that call no model are not held back."""
    with FakeLlm(default=CALL) as server:
        run_id = await harness.submit(BUDGETED, {"url": server.url})
        run, steps = await harness.wait(run_id)
        assert len(server.requests) == 2
    assert run.status == "failed"
    assert steps["second"].status == "succeeded" and steps["other_work"].status == "succeeded"
    assert (steps["third"].status, steps["third"].attempt) == ("failed", 1)
    assert steps["third"].error == "the run has spent $0.0072 of its $0.0050 budget"
    assert len(await harness.engine.llm_calls(run_id)) == 2


async def test_a_budget_counts_only_calls_with_a_price(harness: Harness) -> None:
    with FakeLlm(default=completion("ok", model="free-model")) as server:
        run_id = await harness.submit(
            BUDGETED.replace("fake-model", "free-model").replace("0.005", "0.000001"), {"url": server.url}
        )
        run, _ = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert (await harness.engine.llm_totals(run_id)).calls == 3

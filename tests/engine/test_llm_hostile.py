"""The `llm` action against servers that answer what no server should: absurd token counts,
text no store can keep, echoed secrets at the edge of a cut, replies too large, calls cut
short. Each was found by running the service against such a server (docs/workflows.md,
"llm"); every case runs on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from executor.actions import llm
from executor.actions.prices import Price
from tests.support.checks import not_none
from tests.support.engine import Harness, running_engine
from tests.support.fake_llm import FakeLlm, Reply, completion, error

SECRET = "sk-test-4b9d0e7a1c"

ASK = """
name: ask
steps:
  - id: ask
    action: llm
    retry: {max_attempts: 2, delay: 10ms}
    with:
      model: fake-model
      base_url: "{{ inputs.url }}"
      api_key: "{{ secrets.OPENAI_API_KEY }}"
      prompt: hi
"""


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    async with running_engine(database_url, secrets={"OPENAI_API_KEY": SECRET}) as running:
        yield running


@pytest.fixture(autouse=True)
def prices() -> Iterator[None]:
    # A call of 1 input token costs $0.10: ten of them add up to 0.9999999999999999 in floats.
    llm.prepare(prices={"fake-model": Price(input=1.0, output=1.0), "dime": Price(input=100_000, output=0)})
    yield
    llm.prepare()


async def test_absurd_token_counts_are_cut_and_recorded_on_the_first_attempt(harness: Harness) -> None:
    """Counts past 64 bits made the store refuse the call's row: the attempt was lost, and
    the call made (and paid for) again. Cached tokens are among the input tokens."""
    usage = {
        "prompt_tokens": 10**30,
        "completion_tokens": 2**63,
        "prompt_tokens_details": {"cached_tokens": 10**31},
    }
    absurd = Reply(body={**not_none(completion("ok").body), "usage": usage})
    source = (
        ASK
        + """  - id: again
    action: llm
    needs: ask
    with: {model: fake-model, base_url: "{{ inputs.url }}", prompt: again}
"""
    )
    with FakeLlm(default=absurd) as server:
        run_id = await harness.submit(source, {"url": server.url})
        run, steps = await harness.wait(run_id)
        assert len(server.requests) == 2, "each call made once"
    assert run.status == "succeeded", run.error
    assert steps["ask"].attempt == 1
    counted = not_none(steps["ask"].output)["usage"]
    assert counted["input_tokens"] == llm.MAX_TOKENS == counted["output_tokens"] == counted["cached_tokens"]
    totals = await harness.engine.llm_totals(run_id)
    assert (totals.calls, totals.input_tokens, totals.cached_tokens) == (
        2,
        2 * llm.MAX_TOKENS,
        2 * llm.MAX_TOKENS,
    )


async def test_a_lone_surrogate_in_a_reply_is_kept_as_a_replacement_character(harness: Harness) -> None:
    """JSON may escape half a UTF-16 pair; no UTF-8 text holds one: PostgreSQL refused the
    outcome (the step stayed running, its call made again), SQLite kept it and GET /runs/{id}
    answered 500."""
    # The reply, JSON itself, holds one escaped in the body ("t") and one escaped in its own
    # text ("k").
    content = b'{\\"k\\": \\"\\\\udc00\\", \\"t\\": \\"a\\ud800b\\"}'
    body = (
        b'{"model": "fake-model", "choices": [{"message": {"role": "assistant", "content": "'
        + content
        + b'"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}'
    )
    with FakeLlm(Reply(body=body)) as server:
        run_id = await harness.submit(ASK, {"url": server.url})
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    output = not_none(steps["ask"].output)
    assert output["text"] == '{"k": "\\udc00", "t": "a\ufffdb"}'
    assert output["json"] == {"k": "\ufffd", "t": "a\ufffdb"}


async def test_a_secret_at_the_edge_of_a_cut_error_is_not_half_kept(harness: Harness) -> None:
    """The server's message is cut to 500 characters before it is masked: a key across the
    cut left its first characters readable."""
    with FakeLlm(default=error(401, "x" * 490 + SECRET + " is not a key")) as server:
        run_id = await harness.submit(ASK, {"url": server.url})
        run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    [call] = await harness.engine.llm_calls(run_id)
    for kept in (not_none(steps["ask"].error), not_none(call.error)):
        assert "answered 401: xxx" in kept
        assert SECRET[:4] not in kept, kept[-40:]


async def test_a_call_cut_short_by_the_steps_timeout_is_recorded(harness: Harness) -> None:
    source = ASK.replace("    retry:", "    timeout: 300ms\n    retry:")
    with FakeLlm(default=Reply(delay=5.0, body=completion().body)) as server:
        run_id = await harness.submit(source, {"url": server.url})
        run, _ = await harness.wait(run_id)
        sent = len(server.requests)
    assert run.status == "failed"
    calls = await harness.engine.llm_calls(run_id)
    assert len(calls) == sent == 2
    assert all("cut short (the attempt was cancelled)" in not_none(call.error) for call in calls)


async def test_a_budget_spent_to_the_cent_stops_the_next_call(harness: Harness) -> None:
    source = """
name: dimes
budget: {usd: 1.0}
steps:
  - id: many
    action: llm
    for_each: "{{ range(12) }}"
    concurrency: 1
    with: {model: dime, base_url: "{{ inputs.url }}", prompt: "{{ item }}"}
"""
    reply = completion("ok", model="dime", input_tokens=1, output_tokens=0)
    with FakeLlm(default=reply) as server:
        run_id = await harness.submit(source, {"url": server.url})
        run, steps = await harness.wait(run_id)
        assert len(server.requests) == 10
    assert run.status == "failed"
    assert steps["many[10]"].error == "the run has spent $1.00 of its $1.00 budget"


async def test_a_reply_too_large_fails_at_once_and_is_not_kept(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm, "MAX_REPLY_BYTES", 4096)
    with FakeLlm(default=completion("A" * 10_000)) as server:
        run_id = await harness.submit(ASK, {"url": server.url})
        run, steps = await harness.wait(run_id)
        assert len(server.requests) == 1
    assert run.status == "failed" and steps["ask"].output is None
    assert "answered 200 with more than 4.0 KiB" in not_none(steps["ask"].error)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/v1", "http:// bad/v1"])
async def test_a_rendered_base_url_that_is_not_http_fails_without_a_call(harness: Harness, url: str) -> None:
    run_id = await harness.submit(ASK, {"url": url})
    run, steps = await harness.wait(run_id)
    assert run.status == "failed" and steps["ask"].attempt == 1
    assert f"with.base_url: {url!r} is not an http:// or https:// URL" == steps["ask"].error
    assert await harness.engine.llm_calls(run_id) == []

"""The `llm` action against a real OpenAI-compatible server on loopback (`FakeLlm`), run by
a real engine on each backend: the request it sends, its result, and how each kind of
failure is retried or not."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from executor.actions import llm
from executor.actions.prices import Price
from tests.support.checks import not_none
from tests.support.engine import Harness, running_engine
from tests.support.fake_llm import FakeLlm, Reply, completion, error

SECRET = "sk-test-7f3a9c2e51"

PROMPT = """
name: ask
steps:
  - id: ask
    action: llm
    retry: {max_attempts: 3, delay: 10ms}
    with:
      model: "{{ inputs.model }}"
      base_url: "{{ inputs.url }}"
      api_key: "{{ secrets.OPENAI_API_KEY }}"
      system: You answer in one word.
      prompt: "Say {{ inputs.word }}"
      temperature: 0.2
      max_tokens: 50
"""

SCHEMA = """
name: structured
steps:
  - id: ask
    action: llm
    retry: {max_attempts: 2, delay: 10ms}
    with:
      model: fake-model
      base_url: "{{ inputs.url }}"
      messages:
        - {role: system, content: Reply with a JSON summary.}
        - {role: user, content: "{{ inputs.text }}"}
      response_schema:
        type: object
        required: [summary, words]
        additionalProperties: false
        properties:
          summary: {type: string}
          words: {type: integer, minimum: 0}
"""


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    async with running_engine(database_url, secrets={"OPENAI_API_KEY": SECRET}) as running:
        yield running


@pytest.fixture(autouse=True)
def prices() -> Iterator[None]:
    llm.prepare(prices={"fake-model": Price(input=2.0, output=8.0, cached_input=1.0)})
    yield
    llm.prepare()


def ask(url: str, **more: Any) -> dict[str, Any]:
    return {"url": url, "model": "fake-model", "word": "hello", **more}


async def test_a_prompt_is_sent_as_a_chat_completion_and_answered_with_its_usage(harness: Harness) -> None:
    reply = completion("Hello", input_tokens=1000, output_tokens=200, cached_tokens=400, reasoning_tokens=50)
    with FakeLlm(reply) as server:
        run_id = await harness.submit(PROMPT, ask(server.url))
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["ask"].output == {
        "text": "Hello",
        "json": None,
        "model": "fake-model",
        "finish_reason": "stop",
        "usage": {"input_tokens": 1000, "output_tokens": 200, "cached_tokens": 400, "reasoning_tokens": 50},
        # 600 input at $2/M, 400 cached at $1/M, 200 output at $8/M
        "cost_usd": pytest.approx(0.0012 + 0.0004 + 0.0016),
    }
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["idempotency-key"] == f"{run_id}:ask"
    assert request.json == {
        "model": "fake-model",
        "messages": [
            {"role": "system", "content": "You answer in one word."},
            {"role": "user", "content": "Say hello"},
        ],
        "temperature": 0.2,
        "max_tokens": 50,
    }


async def test_a_structured_reply_is_asked_for_checked_and_parsed(harness: Harness) -> None:
    with FakeLlm(completion('{"summary": "short", "words": 2}')) as server:
        run_id = await harness.submit(SCHEMA, {"url": server.url, "text": "two words"})
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert not_none(steps["ask"].output)["json"] == {"summary": "short", "words": 2}
    sent = server.requests[0].json
    assert sent["messages"][1] == {"role": "user", "content": "two words"}
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "reply",
            "strict": True,
            "schema": {
                "type": "object",
                "required": ["summary", "words"],
                "additionalProperties": False,
                "properties": {"summary": {"type": "string"}, "words": {"type": "integer", "minimum": 0}},
            },
        },
    }


async def test_a_reply_that_breaks_the_schema_fails_the_attempt_naming_what_is_wrong(
    harness: Harness,
) -> None:
    with FakeLlm(default=completion('{"summary": "short", "words": -3}')) as server:
        run_id = await harness.submit(SCHEMA, {"url": server.url, "text": "x"})
        run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["ask"].attempt == 2, "retried: another reply may fit"
    error = not_none(steps["ask"].error)
    assert "the reply breaks response_schema at $.words: -3 is less than the minimum of 0" in error
    assert len(server.requests) == 2


async def test_a_reply_that_is_not_json_fails_and_a_later_one_may_fit(harness: Harness) -> None:
    script = (completion("Sure! Here is", finish_reason="length"), completion('{"summary": "s", "words": 1}'))
    with FakeLlm(*script) as server:
        run_id = await harness.submit(SCHEMA, {"url": server.url, "text": "x"})
        queued = await harness.wait_step(run_id, "ask", "queued")
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["ask"].attempt == 2
    failed = not_none(queued.history)[0]["error"]
    assert "the reply is not JSON" in failed and "finish_reason length; raise max_tokens" in failed


async def test_429_with_retry_after_makes_the_retry_wait(harness: Harness) -> None:
    throttled = error(429, "Rate limit reached", {"Retry-After": "1"})
    with FakeLlm(throttled, completion("ok")) as server:
        run_id = await harness.submit(PROMPT, ask(server.url))
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["ask"].attempt == 2
    assert server.requests[1].at - server.requests[0].at >= 0.95, "the policy's 10ms gave way to 1s"
    entry = not_none(steps["ask"].history)[0]
    assert entry["outcome"] == "failed" and "answered 429: Rate limit reached" in entry["error"]


async def test_retry_after_ms_makes_the_retry_wait(harness: Harness) -> None:
    throttled = error(429, "slow down", {"retry-after-ms": "600"})
    with FakeLlm(throttled, completion("ok")) as server:
        run_id = await harness.submit(PROMPT, ask(server.url))
        run, _ = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert server.requests[1].at - server.requests[0].at >= 0.55


async def test_a_server_error_is_retried(harness: Harness) -> None:
    with FakeLlm(error(500, "The server had an error"), completion("ok")) as server:
        run_id = await harness.submit(PROMPT, ask(server.url))
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["ask"].attempt == 2
    assert "answered 500: The server had an error" in not_none(steps["ask"].history)[0]["error"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>Bad gateway</html>", "malformed reply: the body is not a JSON object"),
        ({"choices": []}, "malformed reply: no choices in the body"),
        ({"choices": [{"finish_reason": "stop"}]}, "malformed reply: choices[0] has no message"),
    ],
)
async def test_a_malformed_body_is_a_retryable_failure(harness: Harness, body: Any, problem: str) -> None:
    with FakeLlm(default=Reply(200, body)) as server:
        run_id = await harness.submit(PROMPT, ask(server.url))
        run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["ask"].attempt == 3 and len(server.requests) == 3
    assert problem in not_none(steps["ask"].error)


async def test_a_server_too_slow_times_out_and_is_retried(harness: Harness) -> None:
    source = PROMPT.replace("max_tokens: 50", "max_tokens: 50\n      timeout: 300ms")
    with FakeLlm(Reply(delay=5.0, body=completion().body), completion("late but fine")) as server:
        run_id = await harness.submit(source, ask(server.url))
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert not_none(steps["ask"].output)["text"] == "late but fine"
    assert "no answer within 300ms" in not_none(steps["ask"].history)[0]["error"]


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_other_client_errors_fail_at_once_with_the_servers_message(
    harness: Harness, status: int
) -> None:
    with FakeLlm(default=error(status, "Incorrect API key provided")) as server:
        run_id = await harness.submit(PROMPT, ask(server.url))
        run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["ask"].attempt == 1 and len(server.requests) == 1
    assert f"answered {status}: Incorrect API key provided" in not_none(steps["ask"].error)


async def test_a_model_without_a_price_costs_null(harness: Harness) -> None:
    with FakeLlm(completion("hi", model="other-model")) as server:
        run_id = await harness.submit(PROMPT, ask(server.url, model="other-model"))
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    output = not_none(steps["ask"].output)
    assert output["cost_usd"] is None and output["usage"]["input_tokens"] == 12


async def test_the_price_of_a_dated_snapshot_is_the_models(harness: Harness) -> None:
    with FakeLlm(
        completion("hi", model="fake-model-2025-01-01", input_tokens=500_000, output_tokens=0)
    ) as server:
        run_id = await harness.submit(PROMPT, ask(server.url))
        _, steps = await harness.wait(run_id)
    output = not_none(steps["ask"].output)
    assert output["model"] == "fake-model-2025-01-01" and output["cost_usd"] == pytest.approx(1.0)


async def test_steps_without_base_url_call_the_configured_server(harness: Harness) -> None:
    with FakeLlm(completion("from the default")) as server:
        llm.prepare(base_url=server.url)
        run_id = await harness.submit("""
name: default_server
steps:
  - id: ask
    action: llm
    with: {model: fake-model, prompt: hi}
""")
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert not_none(steps["ask"].output)["text"] == "from the default"
    assert "authorization" not in server.requests[0].headers, "no api_key: no Authorization header"


async def test_the_api_key_never_reaches_outputs_errors_or_logs(harness: Harness) -> None:
    """A server that echoes the key (in a reply, in an error) has it masked like any secret."""
    script = (error(500, f"bad key {SECRET}"), completion(f"your key is {SECRET}"))
    with FakeLlm(*script) as server:
        run_id = await harness.submit(PROMPT, ask(server.url))
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    row = steps["ask"]
    assert not_none(row.output)["text"] == "your key is ***"
    assert "bad key ***" in not_none(row.history)[0]["error"]
    logs = await harness.engine.read_logs(row.id)
    assert any("POST" in line.line for line in logs)
    stored = repr((row.output, row.history, run.outputs, [line.line for line in logs]))
    assert SECRET not in stored


async def test_rendered_messages_of_the_wrong_shape_fail_without_a_call(harness: Harness) -> None:
    with FakeLlm() as server:
        run_id = await harness.submit(
            """
name: bad_messages
steps:
  - id: ask
    action: llm
    retry: {max_attempts: 3, delay: 10ms}
    with: {model: fake-model, base_url: "{{ inputs.url }}", messages: "{{ inputs.messages }}"}
""",
            {"url": server.url, "messages": [{"role": "robot", "content": "hi"}]},
        )
        run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["ask"].attempt == 1 and server.requests == []
    assert "with.messages[0].role: 'robot' is not one of" in not_none(steps["ask"].error)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"timeout": "soon"}, "with.timeout: "),
        ({"schema": {"type": "objekt"}}, "with.response_schema.type: invalid JSON Schema"),
        ({"max_tokens": "many"}, "with.max_tokens: must be an integer"),
    ],
)
async def test_rendered_parameters_that_are_not_right_fail_without_a_call(
    harness: Harness, given: dict[str, Any], problem: str
) -> None:
    with FakeLlm() as server:
        run_id = await harness.submit(
            """
name: bad_params
steps:
  - id: ask
    action: llm
    retry: {max_attempts: 3, delay: 10ms}
    with:
      model: fake-model
      base_url: "{{ inputs.url }}"
      prompt: hi
      timeout: "{{ inputs.timeout | default('5s') }}"
      max_tokens: "{{ inputs.max_tokens | default(10) }}"
      response_schema: "{{ inputs.schema | default({'type': 'object'}) }}"
""",
            {"url": server.url, **given},
        )
        run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["ask"].attempt == 1 and server.requests == []
    assert problem in not_none(steps["ask"].error)

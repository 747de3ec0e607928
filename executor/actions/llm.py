"""`llm`: one chat completion from an OpenAI-compatible server (OpenAI, vLLM, Ollama,
llama.cpp, LiteLLM...): ``POST {base_url}/chat/completions``.

Every attempt of a step sends the same ``Idempotency-Key`` header. A ``response_schema`` is
sent as a structured-output request (``response_format: json_schema``, strict) and the
reply is checked against it. Failures that another attempt may mend are retryable (the
step's `retry` policy decides): 408, 409, 429 and 5xx answers (``Retry-After`` and
``retry-after-ms`` make the next attempt wait), timeouts, broken connections, a malformed
body, a reply that breaks the schema. Other 4xx answers (a bad key, an unknown model) fail
the step at once with the server's message.

Result: ``{text, json, model, finish_reason, usage: {input_tokens, output_tokens,
cached_tokens, reasoning_tokens}, cost_usd}``; ``json`` is the text parsed when it is JSON,
``cost_usd`` null for a model without a price (`executor.actions.prices`). Every call, failed
or not, is reported to the engine (`Attempt.report_llm`), which records it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING, Any

from executor import tracing
from executor.actions.base import json_or_none
from executor.actions.context import Attempt, LlmCall
from executor.actions.http import client, retry_after
from executor.actions.outcomes import Failed, Outcome, Succeeded
from executor.actions.prices import Price, Prices
from executor.actions.specs import LlmSpec, is_http_url, message_problems, schema_problems
from executor.durations import format_duration, to_seconds
from executor.sizes import format_size

if TYPE_CHECKING:
    import httpx

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 120.0
# Answers another attempt may get right: a timeout, a conflict, too many requests, and the
# server's own errors (5xx, below).
RETRYABLE = frozenset({408, 409, 429})
SCHEMA_NAME = "reply"  # response_format.json_schema.name: required, any name will do
ERROR_CHARS = 500  # of a server's error message kept in the step's error
# The largest reply read: a real one is far smaller (a long reply is some 100k tokens, under
# a megabyte), and a server that sends more is not one to keep in memory and the database.
MAX_REPLY_BYTES = 16 << 20
# More tokens than any call reports (no model reads or writes a trillion at once): a larger
# count from a server is cut to this, so that a run's sums stay in a 64-bit column.
MAX_TOKENS = 1 << 40
# Lone UTF-16 surrogates, which a JSON body may escape ("\ud800") but no UTF-8 text holds:
# neither store could keep them, nor a JSON answer send them.
_SURROGATE = re.compile("[\ud800-\udfff]")

_base_url = DEFAULT_BASE_URL
_prices: Prices = {}


def prepare(base_url: str = DEFAULT_BASE_URL, prices: Prices | None = None) -> None:
    """Ready the action for this service (the runtime calls it when it opens): the server
    steps call when they give no ``base_url`` (``--llm-base-url``), and the price of each
    model (``--llm-prices``)."""
    global _base_url, _prices
    _base_url = base_url
    _prices = dict(prices or {})


def price_of(*models: str) -> Price | None:
    """The price of the first of ``models`` the price file names."""
    return next((_prices[model] for model in models if model in _prices), None)


def _retryable(status: int) -> bool:
    return status in RETRYABLE or status >= 500


class Llm(LlmSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        import httpx  # here: a service that sends no request starts faster without it

        params = attempt.params
        problem = _rendered_problem(params)
        if problem is not None:
            return Failed(problem, retryable=False)
        try:
            seconds = to_seconds(params.get("timeout", DEFAULT_TIMEOUT))
        except ValueError as exc:
            return Failed(f"with.timeout: {exc}", retryable=False)
        model = str(params["model"])
        url = f"{str(params.get('base_url') or _base_url).rstrip('/')}/chat/completions"
        call = _Call(attempt, model, url)
        try:
            async with (
                asyncio.timeout(seconds),
                client().stream(
                    "POST", url, json=_request(params), headers=_headers(attempt), timeout=seconds
                ) as response,
            ):
                content = await _read(response, MAX_REPLY_BYTES)
        except (TimeoutError, httpx.TimeoutException):
            return call.failed(f"no answer within {format_duration(seconds)}")
        except httpx.HTTPError as exc:
            return call.failed(f"{type(exc).__name__}: {exc}")
        except asyncio.CancelledError:  # the step's timeout, a cancel, a shutdown: sent all the same
            call.report(_usage(None), None, f"{model} at {url}: cut short (the attempt was cancelled)")
            raise
        if content is None:
            too_large = f"answered {response.status_code} with more than {format_size(MAX_REPLY_BYTES)}"
            return call.failed(
                too_large, retryable=not response.is_success and _retryable(response.status_code)
            )
        raw = content.decode(response.encoding or "utf-8", errors="replace")
        body = _clean(json_or_none(raw))
        usage = _usage(body)
        if not response.is_success:
            retryable = _retryable(response.status_code)
            said = _server_error(body, raw, response.reason_phrase, attempt)
            return call.failed(
                f"answered {response.status_code}: {said}",
                usage,
                retryable=retryable,
                retry_after=retry_after(response, statuses=(response.status_code,)) if retryable else None,
                result={"status": response.status_code, "error": said},
            )
        reply = _reply(body, attempt)
        if isinstance(reply, str):
            return call.failed(f"malformed reply: {reply}", usage)
        text, finish_reason, answered = reply
        cost = _cost(usage, model, answered)
        result = {
            "text": text,
            "json": _clean(json_or_none(text)),
            "model": answered or model,
            "finish_reason": finish_reason,
            "usage": usage,
            "cost_usd": cost,
        }
        schema = params.get("response_schema")
        if schema is not None:
            try:
                broken = _schema_problem(text, result["json"], schema, finish_reason, attempt)
            except Exception as exc:  # a schema the checks let through that cannot be used after all
                call.report(usage, cost, f"{model} at {url}: answered, but response_schema cannot be used")
                return Failed(
                    f"with.response_schema: cannot be used: {type(exc).__name__}: {exc}", retryable=False
                )
            if broken is not None:
                return call.failed(broken, usage, result=result, cost=cost)
        call.report(usage, cost)
        return Succeeded(result)


class _Call:
    """One call's report to the engine, and the log line of how it went."""

    def __init__(self, attempt: Attempt, model: str, url: str) -> None:
        self.attempt = attempt
        self.model = model
        self.url = url
        self.started = time.monotonic()

    def report(self, usage: dict[str, int], cost: float | None, error: str | None = None) -> None:
        seconds = time.monotonic() - self.started
        self.attempt.report_llm(
            LlmCall(self.model, **_as_call(usage), cost_usd=cost, seconds=seconds, error=error)
        )
        spent = f"{usage['input_tokens']} in, {usage['output_tokens']} out"
        price = "" if cost is None else f", ${cost:.6f}"
        how = "ok" if error is None else "failed"
        self.attempt.log(
            "system", f"POST {self.url} ({self.model}): {how}, {spent} tokens{price}, {seconds:.2f}s"
        )

    def failed(
        self,
        error: str,
        usage: dict[str, int] | None = None,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        result: Any = None,
        cost: float | None = None,
    ) -> Failed:
        usage = usage or _usage(None)
        if cost is None and any(usage.values()):
            cost = _cost(usage, self.model, None)
        message = f"{self.model} at {self.url}: {error}"
        self.report(usage, cost, message)
        return Failed(message, retryable=retryable, result=result, retry_after=retry_after)


def _as_call(usage: dict[str, int]) -> dict[str, int]:
    return {key: usage[key] for key in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")}


def _rendered_problem(params: dict[str, Any]) -> str | None:
    """What is wrong with the rendered parameters (templates are checked only now)."""
    if not isinstance(params.get("model"), str) or not params["model"]:
        return "with.model: must be the model's name"
    if "messages" in params:
        messages = params["messages"]
        if not isinstance(messages, list):
            return "with.messages: must be a list of {role, content}"
        problems = message_problems(messages)
        if problems:
            return f"with.{problems[0][0]}: {problems[0][1]}"
    elif params.get("prompt") is None:
        return "with.prompt: must be the text to send"
    base_url = params.get("base_url")
    if base_url and not (isinstance(base_url, str) and is_http_url(base_url)):
        return f"with.base_url: {base_url!r} is not an http:// or https:// URL"
    for name, kind in (("temperature", int | float), ("max_tokens", int)):
        value = params.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            return (
                f"with.{name}: must be a number"
                if name == "temperature"
                else f"with.{name}: must be an integer"
            )
    schema = params.get("response_schema")
    if schema is not None and not isinstance(schema, dict):
        return "with.response_schema: must be a JSON Schema (a mapping)"
    if schema is not None and (broken := schema_problems(schema)):  # a template gave it
        return f"with.response_schema{broken[0][0]}: {broken[0][1]}"
    return None


def _request(params: dict[str, Any]) -> dict[str, Any]:
    if "messages" in params:
        messages = params["messages"]
    else:
        messages = [{"role": "user", "content": _text(params["prompt"])}]
        if params.get("system"):
            messages.insert(0, {"role": "system", "content": _text(params["system"])})
    request: dict[str, Any] = {"model": params["model"], "messages": messages}
    for name in ("temperature", "max_tokens"):
        if params.get(name) is not None:
            request[name] = params[name]
    if params.get("response_schema") is not None:
        request["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": params["response_schema"], "strict": True},
        }
    return request


def _text(value: Any) -> str:
    """A prompt as text: a template may render to a number or an object (its JSON then)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _headers(attempt: Attempt) -> dict[str, str]:
    headers = {"Idempotency-Key": attempt.idempotency_key}
    api_key = attempt.params.get("api_key")
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    traceparent = tracing.current_traceparent()
    if traceparent is not None:
        headers["traceparent"] = traceparent  # the attempt's span is the server's parent
    return headers


def _count(value: Any) -> int:
    """A token count as a server reports it: a whole number (5.0 too), else 0."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    counted = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return min(value, MAX_TOKENS) if counted else 0


def _usage(body: Any) -> dict[str, int]:
    """The tokens a reply reports (missing: 0)."""
    usage = body.get("usage") if isinstance(body, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    input_tokens = _count(usage.get("prompt_tokens"))
    output_tokens = _count(usage.get("completion_tokens"))
    cached = _count(prompt.get("cached_tokens")) if isinstance(prompt, dict) else 0
    reasoning = _count(completion.get("reasoning_tokens")) if isinstance(completion, dict) else 0
    return {  # cached tokens are among the input tokens, reasoning ones among the output's
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_tokens": min(cached, input_tokens),
        "reasoning_tokens": min(reasoning, output_tokens),
    }


def _cost(usage: dict[str, int], model: str, answered: str | None) -> float | None:
    # The name asked for first: a server answers with a dated snapshot of it ("gpt-4o" →
    # "gpt-4o-2024-08-06"), which a price file may name too.
    price = price_of(model, *([answered] if answered else []))
    if price is None:
        return None
    return price.cost(usage["input_tokens"], usage["output_tokens"], usage["cached_tokens"])


async def _read(response: httpx.Response, limit: int) -> bytes | None:
    """The body, read as it comes; None once it passes ``limit`` bytes (the rest unread)."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _clean(value: Any) -> Any:
    """``value`` (parsed JSON) with lone surrogates as U+FFFD (see `_SURROGATE`)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    return value


def _clip(text: str, chars: int, attempt: Attempt) -> str:
    """``text`` cut to at most ``chars`` characters, never inside a secret (`Attempt.safe_cut`):
    cut before it is masked, half a secret would stay readable."""
    if len(text) <= chars:
        return text
    data = text.encode("utf-8", errors="replace")
    cut = attempt.safe_cut(data, len(text[:chars].encode("utf-8", errors="replace")))
    return data[:cut].decode("utf-8", errors="ignore")


def _server_error(body: Any, raw: str, reason: str, attempt: Attempt) -> str:
    """The server's own words: OpenAI's ``{"error": {"message": ...}}``, else the body."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _clip(error["message"], ERROR_CHARS, attempt)
        if isinstance(error, str):
            return _clip(error, ERROR_CHARS, attempt)
    return _clip(raw.strip(), ERROR_CHARS, attempt) or reason


def _reply(body: Any, attempt: Attempt) -> tuple[str, str | None, str | None] | str:
    """``(text, finish_reason, model)`` of a chat completion, or what is wrong with it."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return "no choices in the body"
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        return "choices[0] has no message"
    finish = choice.get("finish_reason")
    model = body.get("model")
    content = message.get("content")
    if isinstance(content, list):  # content parts: their text, in order
        content = "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    if content is None and isinstance(message.get("refusal"), str):
        return f"the model refused: {_clip(message['refusal'], ERROR_CHARS, attempt)}"
    if content is not None and not isinstance(content, str):
        return "choices[0].message.content is not text"
    return (
        content or "",
        finish if isinstance(finish, str) else None,
        model if isinstance(model, str) and model else None,
    )


def _schema_problem(
    text: str, parsed: Any, schema: dict[str, Any], finish: str | None, attempt: Attempt
) -> str | None:
    """Why a reply does not fit ``response_schema`` (None: it does)."""
    cut = " (the reply was cut short: finish_reason length; raise max_tokens)" if finish == "length" else ""
    if parsed is None and text.strip() != "null":
        try:
            json.loads(text)
        except ValueError as exc:
            return f"the reply is not JSON ({exc}){cut}: {_clip(text, 200, attempt)!r}"
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(parsed))
    if error is None:
        return None
    message = _clip(error.message, ERROR_CHARS, attempt)
    return f"the reply breaks response_schema at {error.json_path}: {message}{cut}"

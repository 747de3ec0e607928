"""`http`: one HTTP request with httpx.

Every attempt of a step sends the same ``Idempotency-Key`` header, so a receiver can tell
a retry from a new request; with tracing on, a ``traceparent`` header too (the attempt's span,
unless the step sets one). Result: ``{status, headers, body, json}``. A status outside
`expect_status` (default: any 2xx) fails the attempt, with the same result (`retry.when` sees
it); a 429 or 503 with ``Retry-After`` (or ``retry-after-ms``) makes the next attempt wait
at least that long.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from executor import tracing
from executor.actions.base import json_or_none
from executor.actions.context import Attempt
from executor.actions.outcomes import Failed, Outcome, Succeeded
from executor.actions.specs import HttpSpec
from executor.durations import to_seconds

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT = 30.0
# The longest wait a `Retry-After` gets: a server asking for more is retried after this
# (a step must not sleep for days because a header said so).
MAX_RETRY_AFTER = 900.0
KEEP_BYTES = 1 << 20

_client: httpx.AsyncClient | None = None


def client() -> httpx.AsyncClient:
    """One client per process: connection pooling across steps."""
    import httpx  # here: a service that sends no request starts faster without it

    global _client
    if _client is None or _client.is_closed:
        _client = httpx.AsyncClient(follow_redirects=True, timeout=DEFAULT_TIMEOUT)
    return _client


async def close_client() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


def expected(status: int, expect: Any) -> bool:
    if expect is None:
        return 200 <= status < 300
    if isinstance(expect, list):
        return any(expected(status, one) for one in expect)
    text = str(expect).strip().lower()
    if len(text) == 3 and text.endswith("xx") and text[0].isdigit():
        return status // 100 == int(text[0])
    try:
        return status == int(text)
    except ValueError:
        return False


class Http(HttpSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        import httpx

        params = attempt.params
        timeout = params.get("timeout", DEFAULT_TIMEOUT)
        seconds = to_seconds(timeout)
        headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
        headers.setdefault("Idempotency-Key", attempt.idempotency_key)
        traceparent = tracing.current_traceparent()
        if traceparent is not None and not any(name.lower() == "traceparent" for name in headers):
            headers["traceparent"] = traceparent  # the attempt's span is the receiver's parent
        method = str(params.get("method") or "GET").upper()
        kwargs: dict[str, Any] = {"headers": headers, "timeout": seconds}
        if params.get("query"):
            kwargs["params"] = {str(k): str(v) for k, v in params["query"].items()}
        if "json" in params:
            kwargs["json"] = params["json"]
        elif "body" in params:
            kwargs["content"] = str(params["body"]).encode()
        try:
            response = await client().request(method, str(params["url"]), **kwargs)
        except httpx.HTTPError as exc:
            return Failed(f"{method} {params['url']}: {type(exc).__name__}: {exc}")
        body = response.content[:KEEP_BYTES].decode(response.encoding or "utf-8", errors="replace")
        attempt.log("system", f"{method} {params['url']} → {response.status_code}")
        result = {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": body,
            "json": json_or_none(body),
        }
        if not expected(response.status_code, params.get("expect_status")):
            return Failed(
                f"{method} {params['url']} answered {response.status_code}: {body[:300]}",
                result=result,
                retry_after=retry_after(response),
            )
        return Succeeded(result)


def retry_after(
    response: httpx.Response, now: float | None = None, *, statuses: Collection[int] = (429, 503)
) -> float | None:
    """The wait a response with one of ``statuses`` asks for: ``retry-after-ms`` (milliseconds,
    as OpenAI-compatible servers send) or ``Retry-After`` (seconds, or an HTTP date), at
    most `MAX_RETRY_AFTER`; None without one (or one that does not parse)."""
    if response.status_code not in statuses:
        return None
    millis = response.headers.get("retry-after-ms")
    if millis is not None:
        try:
            seconds = float(millis.strip()) / 1000
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds):
            return min(max(seconds, 0.0), MAX_RETRY_AFTER)
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT; one without a zone is read as such
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)

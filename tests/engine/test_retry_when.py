"""Conditional retry (`retry.when` over the failed attempt's result and error) and HTTP
`Retry-After`, on both backends, against real commands and a real HTTP server."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import httpx

from executor.actions.http import MAX_RETRY_AFTER, retry_after
from tests.support.checks import not_none
from tests.support.engine import Harness
from tests.support.http_server import RecordingServer


def counting(path: Path, codes: str) -> str:
    """A command exiting with the next of ``codes`` on each attempt (the last one after)."""
    return f'n=$(cat {path} 2>/dev/null || echo 0); echo $((n+1)) > {path}; set -- {codes}; shift $n 2>/dev/null || shift $(($#-1)); echo "tried $n" >&2; exit $1'


async def test_retry_when_retries_only_the_failures_it_names(harness: Harness, tmp_path: Path) -> None:
    run_id = await harness.submit(f"""
name: retry_when
steps:
  - id: busy
    action: shell
    retry: {{max_attempts: 5, delay: 0s, when: "{{{{ result.exit_code == 75 }}}}"}}
    with: {{command: '{counting(tmp_path / "busy", "75 75 0")}'}}
  - id: broken
    action: shell
    retry: {{max_attempts: 5, delay: 0s, when: "{{{{ result.exit_code == 75 }}}}"}}
    with: {{command: '{counting(tmp_path / "broken", "75 1 0")}'}}
  - id: by_error
    action: shell
    retry: {{max_attempts: 5, delay: 0s, when: "{{{{ 'tried 0' in error }}}}"}}
    with: {{command: '{counting(tmp_path / "by_error", "9 9 0")}'}}
""")
    run, steps = await harness.wait(run_id)
    assert (steps["busy"].status, steps["busy"].attempt) == ("succeeded", 3)
    assert (steps["broken"].status, steps["broken"].attempt) == ("failed", 2)
    assert "exit code 1" in not_none(steps["broken"].error)
    assert (steps["by_error"].status, steps["by_error"].attempt) == ("failed", 2)
    assert run.status == "failed"


async def test_retry_when_cannot_make_a_non_retryable_failure_retry(harness: Harness) -> None:
    run_id = await harness.submit("""
name: not_retryable
steps:
  - id: a
    action: noop
    retry: {max_attempts: 4, delay: 0s, when: true}
    with: {output: "{{ inputs.missing.deeper }}"}
""")
    _, steps = await harness.wait(run_id)
    assert (steps["a"].status, steps["a"].attempt) == ("failed", 1)


async def test_a_retry_when_that_does_not_render_ends_the_attempts(harness: Harness) -> None:
    run_id = await harness.submit("""
name: broken_when
steps:
  - id: a
    action: shell
    retry: {max_attempts: 4, delay: 0s, when: "{{ result.nothing.deeper }}"}
    with: {command: "exit 2"}
""")
    _, steps = await harness.wait(run_id)
    assert (steps["a"].status, steps["a"].attempt) == ("failed", 1)
    assert "exit code 2" in not_none(steps["a"].error) and "retry.when" in not_none(steps["a"].error)


async def test_http_retries_see_the_response_and_honour_retry_after(harness: Harness) -> None:
    """The policy's delay is 10ms, the server asks for 2s: the second request comes no
    sooner than that. `retry.when` sees the failed response's status and body."""
    with RecordingServer(fail_first=1, fail_status=429, fail_headers={"Retry-After": "2"}) as server:
        run_id = await harness.submit(f"""
name: throttled
steps:
  - id: call
    action: http
    retry: {{max_attempts: 3, delay: 10ms, when: "{{{{ result.status == 429 and 'path' in result.body }}}}"}}
    with: {{url: "{server.url}/limited"}}
""")
        queued = await harness.wait_step(run_id, "call", "queued")
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["call"].attempt == 2
    first_ended = not_none(queued.history)[0]["ended_at"]
    assert not_none(queued.available_at) - first_ended >= 2.0
    assert server.requests[1]["at"] - server.requests[0]["at"] >= 1.9


async def test_http_retry_after_as_a_date(harness: Harness) -> None:
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    with RecordingServer(fail_first=1, fail_status=503, fail_headers={"Retry-After": when}) as server:
        run_id = await harness.submit(f"""
name: unavailable
steps:
  - id: call
    action: http
    retry: {{max_attempts: 2, delay: 10ms}}
    with: {{url: "{server.url}/later"}}
""")
        queued = await harness.wait_step(run_id, "call", "queued")
        run, _ = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    waited = not_none(queued.available_at) - not_none(queued.history)[0]["ended_at"]
    assert 1.0 <= waited <= 3.0  # an HTTP date has whole seconds


def test_retry_after_is_read_on_429_and_503_only_and_capped() -> None:
    def response(status: int, value: str) -> httpx.Response:
        return httpx.Response(status, headers={"Retry-After": value})

    now = 1_800_000_000.0
    assert retry_after(response(429, "7")) == 7.0
    assert retry_after(response(503, email.utils.formatdate(now + 30, usegmt=True)), now=now) == 30.0
    assert retry_after(response(503, email.utils.formatdate(now - 30, usegmt=True)), now=now) == 0.0
    assert retry_after(response(429, "86400")) == MAX_RETRY_AFTER
    assert retry_after(response(500, "7")) is None
    assert retry_after(response(429, "soon")) is None
    assert retry_after(httpx.Response(429)) is None

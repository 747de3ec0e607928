"""Fan-out, retries, timeouts, shell and http behaviour, logs and secrets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from executor.engine.events import RetryEvent
from executor.store.base import Txn
from executor.store.records import Claimed
from tests.support.checks import not_none
from tests.support.engine import Harness, running_engine
from tests.support.process import pid_alive
from tests.support.waiting import async_wait_until


async def test_for_each_respects_its_concurrency(harness: Harness, tmp_path: Path) -> None:
    # Each item counts the markers present while it runs: the peak the steps themselves saw.
    running, seen = tmp_path / "running", tmp_path / "seen"
    running.mkdir()
    seen.mkdir()
    run_id = await harness.submit(f"""
name: fan
steps:
  - id: fan
    action: shell
    for_each: "{{{{ range(8) }}}}"
    concurrency: 3
    with:
      command: "touch {running}/{{{{ item }}}}; sleep 0.3; ls {running} | wc -l > {seen}/{{{{ item }}}}; rm {running}/{{{{ item }}}}"
    outputs: {{item: "{{{{ item }}}}", index: "{{{{ index }}}}"}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    peaks = [int(p.read_text()) for p in seen.iterdir()]
    assert len(peaks) == 8
    assert max(peaks) <= 3
    assert max(peaks) == 3, "with 8 items and room for 3, three ran at once"
    assert steps["fan"].output == [{"item": i, "index": i} for i in range(8)]


async def test_a_failed_item_fails_the_step_after_all_items_end(harness: Harness) -> None:
    run_id = await harness.submit("""
name: fan_fail
steps:
  - id: fan
    action: shell
    for_each: [1, 2, 3]
    with: {command: "test {{ item }} -ne 2"}
""")
    run, steps = await harness.wait(run_id)
    assert steps["fan"].status == "failed" and not_none(steps["fan"].error).startswith("item 1 failed")
    assert [steps[f"fan[{i}]"].status for i in range(3)] == ["succeeded", "failed", "succeeded"]
    assert run.status == "failed"


async def test_for_each_over_nothing_succeeds_with_an_empty_list(harness: Harness) -> None:
    run_id = await harness.submit("""
name: fan_empty
steps:
  - {id: fan, action: noop, for_each: "{{ [] }}"}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and steps["fan"].output == []


async def test_retries_wait_the_backoff_between_attempts(harness: Harness, tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"
    run_id = await harness.submit(f"""
name: flaky
steps:
  - id: flaky
    action: shell
    retry: {{max_attempts: 4, backoff: exponential, delay: 200ms, max_delay: 300ms}}
    with:
      command: "echo $EXECUTOR_ATTEMPT $(date +%s.%N) >> {attempts}; test $EXECUTOR_ATTEMPT -ge 3"
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["flaky"].attempt == 3
    lines = [line.split() for line in attempts.read_text().splitlines()]
    assert [int(n) for n, _ in lines] == [1, 2, 3]
    starts = [float(t) for _, t in lines]
    # delay after attempt 1: 200ms; after attempt 2: 400ms capped at 300ms
    assert starts[1] - starts[0] >= 0.2
    assert starts[2] - starts[1] >= 0.3
    assert starts[2] - starts[0] < 5, "backoff is bounded by max_delay"


async def test_a_step_that_keeps_failing_fails_after_max_attempts(harness: Harness) -> None:
    run_id = await harness.submit("""
name: hopeless
steps:
  - {id: a, action: shell, retry: {max_attempts: 2, delay: 10ms}, with: {command: "echo broken >&2; exit 7"}}
""")
    run, steps = await harness.wait(run_id)
    assert (steps["a"].status, steps["a"].attempt) == ("failed", 2)
    assert "exit code 7" in not_none(steps["a"].error) and "broken" in not_none(steps["a"].error)
    assert next(e for e in harness.events if isinstance(e, RetryEvent)).attempt == 1


async def test_a_timeout_kills_the_whole_process_group(harness: Harness, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    run_id = await harness.submit(f"""
name: slow
steps:
  - id: slow
    action: shell
    timeout: 500ms
    with: {{command: "sleep 60 & echo $! > {pidfile}; wait"}}
""")
    run, steps = await harness.wait(run_id)
    assert steps["slow"].status == "failed" and "timed out after 500ms" in not_none(steps["slow"].error)
    child = int(pidfile.read_text())
    await async_wait_until(lambda: not pid_alive(child), timeout=10, what="the background child to die")


async def test_shell_sees_its_identity_and_input(harness: Harness) -> None:
    run_id = await harness.submit("""
name: ident
steps:
  - id: show
    action: shell
    with:
      command: ["sh", "-c", "cat; echo; echo $EXECUTOR_STEP_ID $EXECUTOR_ATTEMPT $EXECUTOR_IDEMPOTENCY_KEY $X"]
      stdin: "from stdin"
      env: {X: "x-value"}
""")
    run, steps = await harness.wait(run_id)
    out = steps["show"].output["stdout"].splitlines()
    assert out[0] == "from stdin"
    assert out[1] == f"show 1 {run_id}:show x-value"


async def test_shell_output_streams_into_the_step_log(harness: Harness) -> None:
    run_id = await harness.submit("""
name: chatty
steps:
  - {id: talk, action: shell, with: {command: "echo one; sleep 0.5; echo two >&2; echo three"}}
""")
    row = await harness.wait_step(run_id, "talk", "running")
    lines = await async_wait_until(
        lambda: harness.engine.store.read_logs(row.id), timeout=5, what="a first log line"
    )
    assert lines[0].line == "one" and lines[0].stream == "stdout"
    await harness.wait(run_id)
    lines = await harness.engine.store.read_logs(row.id)
    assert [(x.stream, x.line) for x in lines] == [("stdout", "one"), ("stderr", "two"), ("stdout", "three")]


async def test_secrets_are_masked_in_outputs_logs_and_errors(database_url: str) -> None:
    async with running_engine(database_url, secrets={"TOKEN": "s3cr3t-value"}) as harness:
        run_id = await harness.submit("""
name: secretive
steps:
  - {id: leak, action: shell, with: {command: "echo token={{ secrets.TOKEN }}"}}
  - {id: fail, action: shell, needs: [leak], with: {command: "echo {{ secrets.TOKEN }} >&2; exit 1"}}
""")
        run, steps = await harness.wait(run_id)
        assert steps["leak"].output["stdout"] == "token=***\n"
        assert "s3cr3t" not in not_none(steps["fail"].error) and "***" in not_none(steps["fail"].error)
        assert "s3cr3t" not in (run.error or "")
        logs = await harness.engine.store.read_logs(steps["leak"].id)
        assert [x.line for x in logs] == ["token=***"]


async def test_http_step_sends_a_stable_idempotency_key(harness: Harness) -> None:
    from tests.support.http_server import RecordingServer

    with RecordingServer(fail_first=1) as server:
        run_id = await harness.submit(f"""
name: call
steps:
  - id: call
    action: http
    retry: {{max_attempts: 3, delay: 10ms}}
    with: {{method: POST, url: "{server.url}/deploy", json: {{v: 1}}, headers: {{X-Test: yes}}}}
    outputs: {{status: "{{{{ result.status }}}}", echoed: "{{{{ result.json.body }}}}"}}
""")
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["call"].attempt == 2
    assert steps["call"].output == {"status": 200, "echoed": {"v": 1}}
    keys = {request["headers"]["idempotency-key"] for request in server.requests}
    assert keys == {f"{run_id}:call"} and len(server.requests) == 2
    assert server.requests[0]["headers"]["x-test"] == "yes"


async def test_http_step_fails_on_an_unexpected_status(harness: Harness) -> None:
    from tests.support.http_server import RecordingServer

    with RecordingServer(status=404) as server:
        run_id = await harness.submit(f"""
name: call404
steps:
  - {{id: call, action: http, with: {{url: "{server.url}/x"}}}}
  - {{id: tolerant, action: http, with: {{url: "{server.url}/x", expect_status: [200, 404]}}}}
""")
        run, steps = await harness.wait(run_id)
    assert steps["call"].status == "failed" and "answered 404" in not_none(steps["call"].error)
    assert steps["tolerant"].status == "succeeded"


async def test_while_the_writer_claims_the_loop_sees_no_free_slot(database_url: str) -> None:
    # With --concurrency 1, a run's submission claimed its first step in the writer's
    # transaction while the claim loop, woken at the same time, counted the same slot free
    # and claimed another: two steps ran at once.
    async with running_engine(database_url, concurrency=1) as harness:
        engine = harness.engine
        seen: list[int] = []
        claim_in = engine.claim_in

        async def watched(txn: Txn, limit: int) -> Sequence[Claimed]:
            seen.append(engine.loop.free_slots())
            return await claim_in(txn, limit)

        engine.claim_in = watched  # type: ignore[method-assign]
        run_id = await harness.submit(
            "name: three\nsteps:\n"
            + "".join(f"  - {{id: s{n}, action: shell, with: {{command: 'sleep 0.2'}}}}\n" for n in range(3))
        )
        run, _ = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert seen and all(free == 0 for free in seen), seen
    assert engine.loop.in_flight == 0

"""Mutual exclusion across runs: step `mutex`/`semaphore`, workflow `concurrency` keys with
their policies; holders never above the limit, waiters let in first come, first served."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from executor.store.records import StepRow
from tests.support.checks import not_none
from tests.support.engine import Harness, running_engine

HOLD = """
name: ledger_post
inputs: {type: object, properties: {book: {type: string}}}
steps:
  - id: post
    action: wait
    mutex: "ledger-{{ inputs.book }}"
    with: {signal: go}
  - {id: after, action: noop, needs: [post]}
"""

GPU = """
name: train
steps:
  - id: fit
    action: wait
    semaphore: {key: gpu, limit: 2}
    with: {signal: go}
"""


def deploy(policy: str) -> str:
    return f"""
name: deploy_{policy}
inputs: {{type: object, properties: {{env: {{type: string}}}}}}
concurrency: {{key: "deploy-{{{{ inputs.env }}}}", policy: {policy}}}
steps:
  - {{id: ship, action: wait, with: {{signal: go}}}}
"""


async def wait_signal(harness: Harness, run_id: str, step: str = "post") -> StepRow:
    """The step once it holds its key and waits for its signal `go`."""
    deadline = time.monotonic() + 20
    while True:
        _, rows = await harness.engine.get(run_id)
        row = next(r for r in rows if r.step_id == step and r.item_index == -1)
        if row.status == "waiting" and (row.state or {}).get("signal") == "go":
            return row
        assert time.monotonic() < deadline, f"{step} of {run_id} never held its key: {row}"
        await asyncio.sleep(0.02)


async def in_line(harness: Harness, run_id: str, step: str = "post") -> dict[str, Any]:
    """What the step waits for, once it waits in its key's line."""
    row = await harness.wait_step(run_id, step, "waiting")
    waiting = (row.state or {}).get("waiting_for")
    assert waiting is not None, row.state
    return dict(waiting)


async def positions(harness: Harness, key: str) -> list[tuple[str, bool, int]]:
    return [(p.run_id, p.holding, p.position) for p in await harness.engine.store.places_under(key)]


async def test_a_mutex_lets_one_run_in_at_a_time_first_come_first_served(harness: Harness) -> None:
    first = await harness.submit(HOLD, {"book": "a"})
    await wait_signal(harness, first)
    second, third = await harness.submit(HOLD, {"book": "a"}), await harness.submit(HOLD, {"book": "a"})
    assert await in_line(harness, second) == {"kind": "mutex", "key": "ledger-a", "limit": 1}
    await in_line(harness, third)
    assert await positions(harness, "ledger-a") == [(first, True, 0), (second, False, 1), (third, False, 2)]
    other = await harness.submit(HOLD, {"book": "b"})  # another key: not in this line
    await wait_signal(harness, other)

    await harness.engine.signal(first, "go")
    await wait_signal(harness, second)
    assert await positions(harness, "ledger-a") == [(second, True, 0), (third, False, 1)]
    await harness.engine.signal(second, "go")
    await wait_signal(harness, third)
    await harness.engine.signal(third, "go")
    await harness.engine.signal(other, "go")
    for run_id in (first, second, third, other):
        run, steps = await harness.wait(run_id)
        assert run.status == "succeeded" and "waiting_for" not in (steps["post"].state or {})
    assert await positions(harness, "ledger-a") == []


async def test_a_semaphore_lets_in_up_to_its_limit(harness: Harness) -> None:
    runs = [await harness.submit(GPU) for _ in range(3)]
    for run_id in runs[:2]:
        await wait_signal(harness, run_id, "fit")
    assert await in_line(harness, runs[2], "fit") == {"kind": "semaphore", "key": "gpu", "limit": 2}
    await harness.engine.signal(runs[1], "go")
    await wait_signal(harness, runs[2], "fit")
    for run_id in (runs[0], runs[2]):
        await harness.engine.signal(run_id, "go")
    for run_id in runs:
        assert (await harness.wait(run_id))[0].status == "succeeded"


async def test_the_hold_lasts_every_retry_of_the_step(harness: Harness, tmp_path: Path) -> None:
    flaky = f"""
name: flaky_post
steps:
  - id: post
    action: shell
    mutex: ledger
    retry: {{max_attempts: 2, delay: 300ms}}
    # The second attempt waits for `go`: the key must still be held, in the backoff or after.
    with: {{command: "if [ -e {tmp_path}/tried ]; then until [ -e {tmp_path}/go ]; do sleep 0.05; done; echo ok; else touch {tmp_path}/tried; exit 1; fi"}}
"""
    first = await harness.submit(flaky)
    await harness.wait_step(first, "post", "queued")  # failed once, its retry due later
    second = await harness.submit(HOLD, {"book": "x"})  # another key: runs
    await wait_signal(harness, second)
    third = await harness.submit(flaky.replace("flaky_post", "flaky_too"))
    assert (await in_line(harness, third))["key"] == "ledger", "the retry keeps the key"
    (tmp_path / "go").touch()
    run, steps = await harness.wait(first)
    assert run.status == "succeeded" and steps["post"].attempt == 2
    run, steps = await harness.wait(third)
    assert run.status == "succeeded", "let in once the first was final (its file is there)"
    await harness.engine.signal(second, "go")


async def test_a_cancelled_waiter_leaves_the_line(harness: Harness) -> None:
    first = await harness.submit(HOLD, {"book": "c"})
    await wait_signal(harness, first)
    second, third = await harness.submit(HOLD, {"book": "c"}), await harness.submit(HOLD, {"book": "c"})
    await in_line(harness, third)
    await harness.engine.cancel(second)
    assert await positions(harness, "ledger-c") == [(first, True, 0), (third, False, 1)]
    await harness.engine.cancel(first)  # a cancelled holder lets the next in
    await wait_signal(harness, third)
    await harness.engine.signal(third, "go")
    assert (await harness.wait(third))[0].status == "succeeded"


async def test_a_key_that_renders_empty_fails_the_step(harness: Harness) -> None:
    empty = await harness.submit("""
name: empty_key
steps:
  - {id: post, action: noop, mutex: "{{ '' }}"}
""")
    run, steps = await harness.wait(empty)
    assert run.status == "failed" and steps["post"].error == "mutex rendered to an empty key"


async def test_queue_keeps_a_run_pending_until_the_key_is_free(harness: Harness) -> None:
    first = await harness.submit(deploy("queue"), {"env": "prod"})
    await wait_signal(harness, first, "ship")
    second = await harness.submit(deploy("queue"), {"env": "prod"})
    staging = await harness.submit(deploy("queue"), {"env": "staging"})
    await wait_signal(harness, staging, "ship")
    run, steps = await harness.engine.get(second)
    assert run.status == "pending" and [s.status for s in steps] == ["pending"]
    assert [(p.key, p.holding, p.position) for p in await harness.engine.store.run_places(second)] == [
        ("deploy-prod", False, 1)
    ]
    await harness.engine.signal(first, "go")
    await wait_signal(harness, second, "ship")
    for run_id in (second, staging):
        await harness.engine.signal(run_id, "go")
        assert (await harness.wait(run_id))[0].status == "succeeded"


async def test_skip_ends_the_new_run_cancelled_at_once(harness: Harness) -> None:
    first = await harness.submit(deploy("skip"), {"env": "prod"})
    await wait_signal(harness, first, "ship")
    second = await harness.submit(deploy("skip"), {"env": "prod"})
    run, steps = await harness.wait(second)
    assert run.status == "cancelled"
    assert run.error == f"skipped: concurrency key 'deploy-prod' is held (limit 1) by run {first}"
    assert steps["ship"].status == "cancelled"
    assert await positions(harness, "deploy-prod") == [(first, True, 0)]
    await harness.engine.signal(first, "go")
    assert (await harness.wait(first))[0].status == "succeeded"


async def test_cancel_running_cancels_the_holder_and_the_line(harness: Harness) -> None:
    first = await harness.submit(deploy("cancel_running"), {"env": "prod"})
    await wait_signal(harness, first, "ship")
    second = await harness.submit(deploy("cancel_running"), {"env": "prod"})
    await wait_signal(harness, second, "ship")
    run, steps = await harness.wait(first)
    assert run.status == "cancelled" and steps["ship"].status == "cancelled"
    assert run.error == f"cancelled by run {second} (concurrency key 'deploy-prod', policy cancel_running)"
    assert await positions(harness, "deploy-prod") == [(second, True, 0)]
    await harness.engine.signal(second, "go")
    assert (await harness.wait(second))[0].status == "succeeded"


async def test_a_retried_run_takes_its_key_again(harness: Harness) -> None:
    flow = """
name: deploy_flaky
inputs: {type: object, properties: {fail: {type: boolean}}}
concurrency: {key: deploy}
steps:
  - {id: ship, action: wait, with: {signal: go}}
  - {id: check, action: shell, needs: [ship], with: {command: "exit {{ 1 if inputs.fail else 0 }}"}}
"""
    first = await harness.submit(flow, {"fail": True})
    await wait_signal(harness, first, "ship")
    await harness.engine.signal(first, "go")
    assert (await harness.wait(first))[0].status == "failed"
    second = await harness.submit(flow, {"fail": False})
    await wait_signal(harness, second, "ship")
    await harness.engine.retry(first)
    run, _ = await harness.engine.get(first)
    assert run.status == "pending", "it waits in line, nothing started"
    assert await positions(harness, "deploy") == [(second, True, 0), (first, False, 1)]
    await harness.engine.signal(second, "go")
    done, _ = await harness.wait(second)
    run, steps = await harness.wait(first)
    assert run.status == "failed", "it ran again (and failed again) once let in"
    assert not_none(steps["check"].started_at) >= not_none(done.finished_at)


async def test_a_paused_run_let_in_holds_its_key_and_starts_its_steps_on_resume(harness: Harness) -> None:
    first = await harness.submit(deploy("queue"), {"env": "prod"})
    await wait_signal(harness, first, "ship")
    second = await harness.submit(deploy("queue"), {"env": "prod"})
    await harness.engine.pause(second)
    await harness.engine.resume(second)
    run, steps = await harness.engine.get(second)
    assert run.status == "pending" and [s.status for s in steps] == ["pending"], "resumed, still in line"
    await harness.engine.pause(second)
    await harness.engine.signal(first, "go")
    assert (await harness.wait(first))[0].status == "succeeded"
    assert await positions(harness, "deploy-prod") == [(second, True, 0)]
    run, steps = await harness.engine.get(second)
    assert run.status == "paused" and [s.status for s in steps] == ["pending"], "let in, nothing started"
    await harness.engine.resume(second)
    await wait_signal(harness, second, "ship")
    await harness.engine.signal(second, "go")
    assert (await harness.wait(second))[0].status == "succeeded"


def stubborn(name: str, marks: Path, key: str) -> str:
    """A workflow whose step holds ``key`` and writes start/stop marks; cancelled, its
    command traps TERM and takes a moment to end (a cleanup) before its stop mark."""
    command = (
        f"echo start $M >> {marks}; "
        f"trap 'sleep 0.3; echo stop $M >> {marks}; exit 143' TERM; "
        f'if [ -n "$HOLD" ]; then while true; do sleep 0.05; done; fi; echo stop $M >> {marks}'
    )
    return f"""
name: {name}
inputs: {{type: object, properties: {{m: {{type: string}}, hold: {{type: boolean}}}}}}
{key}
steps:
  - id: post
    action: shell
    with:
      command: {json.dumps(command)}
      env: {{M: "{{{{ inputs.m }}}}", HOLD: "{{{{ 'yes' if inputs.hold else '' }}}}"}}
"""


def read_marks(marks: Path) -> list[str]:
    return marks.read_text().splitlines() if marks.exists() else []


async def marks_of(marks: Path, count: int) -> list[str]:
    """The marks once there are ``count`` of them."""
    deadline = time.monotonic() + 20
    while len(lines := read_marks(marks)) < count:
        assert time.monotonic() < deadline, lines
        await asyncio.sleep(0.02)
    return lines


@pytest.mark.parametrize("how", ["run", "step", "cancel_running"])
async def test_a_cancelled_holder_keeps_its_key_until_its_command_has_ended(
    harness: Harness, tmp_path: Path, how: str
) -> None:
    marks = tmp_path / "marks"
    if how == "cancel_running":
        flow = stubborn("stubborn_run", marks, "concurrency: {key: ledger, policy: cancel_running}")
    else:
        flow = stubborn("stubborn_step", marks, "").replace(
            "action: shell\n", "action: shell\n    mutex: ledger\n"
        )
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING")
    first = await harness.submit(flow, {"m": "first", "hold": True})
    await marks_of(marks, 1)
    second = await harness.submit(flow, {"m": "second", "hold": False})
    if how == "run":
        await harness.engine.cancel(first)
    elif how == "step":
        await harness.engine.cancel_step(first, "post")
    assert (await harness.wait(second))[0].status == "succeeded"
    assert await marks_of(marks, 4) == ["start first", "stop first", "start second", "stop second"]
    run, steps = await harness.wait(first)
    assert steps["post"].status == "cancelled" and run.status == (
        "succeeded" if how == "step" else "cancelled"
    )
    logger.remove(sink)
    assert warnings == [], "a cancel is no lost lease"


async def test_a_key_kept_for_an_attempt_whose_end_is_never_reported_is_swept(database_url: str) -> None:
    """The instance that runs a cancelled holder's attempt dies before reporting its end:
    the lease upkeep's sweep gives the key up a lease after the step ended."""
    flow = """
name: ghostly
steps:
  - {id: post, action: shell, mutex: haunted, with: {command: "sleep 30"}}
"""
    async with running_engine(database_url, concurrency=0, lease=0.5) as harness:  # claims nothing
        first = await harness.submit(flow)
        await harness.wait_step(first, "post", "queued")
        async with harness.engine.store.transaction() as txn:  # a ghost runs it, and never reports
            assert [c.row.run_id for c in await txn.claim("ghost", 1, 30.0)] == [first]
        second = await harness.submit(flow)
        await harness.engine.cancel(first)
        assert await positions(harness, "haunted") == [(first, True, 0), (second, False, 1)], "kept"
        deadline = time.monotonic() + 20
        while await positions(harness, "haunted") != [(second, True, 0)]:
            assert time.monotonic() < deadline, await positions(harness, "haunted")
            await asyncio.sleep(0.05)

"""The one runtime assembly (`executor.runtime`), on real databases of both backends: what
`serve` and `executor run` share when they end normally and when their work fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.lifecycle import Lifecycle, State
from executor.runtime import Runtime
from executor.settings import parse_settings
from executor.statuses import StepStatus
from executor.workflow import parse_workflow
from tests.support.checks import not_none
from tests.support.process import pid_alive
from tests.support.waiting import async_wait_until

FLOW = """
name: long
steps:
  - id: work
    action: shell
    with: {command: "echo $$ > {pidfile}; exec sleep 60"}
"""


class Boom(Exception):
    pass


def state_of(lifecycle: Lifecycle) -> State:
    """Read afresh: mypy would keep an earlier assert's narrowing across the awaits."""
    return lifecycle.state


async def test_work_that_fails_hands_back_what_is_in_flight_and_stops_cleanly(
    database_url: str, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    settings = parse_settings(database=database_url, stop_timeout="30s", stderr_is_tty=None)
    lifecycle = Lifecycle()
    text = FLOW.replace("{pidfile}", str(pidfile))
    with pytest.raises(ExceptionGroup) as raised:  # noqa: PT012 - the failure is inside the runtime
        async with Runtime.open(settings, lifecycle) as runtime:
            engine = runtime.engine
            await engine.register(parse_workflow(text), text)
            run, _ = await engine.submit("long", {})
            async with runtime.working():
                assert lifecycle.state is State.RUNNING
                await async_wait_until(lambda: pidfile.is_file() and pidfile.read_text().strip(), 20)
                raise Boom("the HTTP server died")
    assert raised.group_contains(Boom)
    # Without waiting out the stop timeout: the attempt was cancelled and handed back as
    # lost (no retry spent) for the next start; its command is gone; the instance says stopped.
    assert lifecycle.state is State.STOPPED
    assert not pid_alive(int(pidfile.read_text()))
    async with Runtime.open(settings, Lifecycle()) as again:
        _, rows = await again.engine.get(run.id)
        instances = await again.store.list_instances()
    (row,) = rows
    assert (row.status, row.attempt) == (StepStatus.QUEUED, 1)
    assert [(h["outcome"], h["reason"], h["instance"]) for h in row.history or []] == [
        ("lost", "drain", runtime.instance_id)
    ]
    first = next(i for i in instances if i.id == runtime.instance_id)
    assert first.state == State.STOPPED


async def test_a_drain_waits_for_the_step_and_a_second_drain_does_nothing(
    database_url: str, tmp_path: Path
) -> None:
    settings = parse_settings(database=database_url, stderr_is_tty=None)
    lifecycle = Lifecycle()
    text = "name: short\nsteps:\n  - {id: work, action: shell, with: {command: 'sleep 0.3'}}\n"
    async with Runtime.open(settings, lifecycle) as runtime:
        engine = runtime.engine
        await engine.register(parse_workflow(text), text)
        run, _ = await engine.submit("short", {})
        async with runtime.working():
            await async_wait_until(lambda: engine.loop.in_flight > 0, 20)
            assert await runtime.drain() == 0  # waited: nothing to hand back
            assert state_of(lifecycle) is State.DRAINING
            assert await runtime.drain() == 0
        finished, rows = await engine.get(run.id)
    assert not_none(finished.finished_at) > 0
    assert [row.status for row in rows] == [StepStatus.SUCCEEDED]
    assert state_of(lifecycle) is State.STOPPED

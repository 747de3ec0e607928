"""The renderer: bounded templates here, the others in real worker processes under limits."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from executor.errors import ExpressionError
from executor.render.renderer import Renderer, RenderPending
from executor.render.workers import Worker, WorkerPool
from executor.workflow import build_context
from tests.support.process import pid_alive
from tests.support.waiting import async_wait_until

RUNAWAY = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
LOOP = "{% for h in inputs.hosts %}{{ h }},{% endfor %}"


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool(size=1)
    yield pool
    pool.close()


@pytest.fixture
def renderer(pool: WorkerPool) -> Renderer:
    return Renderer(timeout=0.5, pool=pool)


@pytest.fixture
def context() -> dict[str, Any]:
    return build_context(
        inputs={"hosts": ["a", "b"], "service": "api"}, steps={}, run_id="r", workflow="w", secrets={}
    )


class LoopLag:
    """The longest the event loop took to come back to a 5 ms sleep, while it ran."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def watch(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - started - 0.005)


@pytest.fixture
async def lag() -> AsyncIterator[LoopLag]:
    watcher = LoopLag()
    task = asyncio.create_task(watcher.watch())
    yield watcher
    task.cancel()


async def test_a_loop_renders_in_a_worker_like_in_process(
    renderer: Renderer, context: dict[str, Any]
) -> None:
    value = {
        "list": LOOP,
        "typed": "{{ inputs.hosts | map('center', 3) | list }}",
        "here": "{{ inputs.service }}",
    }
    assert await renderer.render(value, context, where="with") == {
        "list": "a,b,",
        "typed": [" a ", " b "],
        "here": "api",
    }


async def test_bounded_templates_never_start_a_worker(context: dict[str, Any]) -> None:
    async def refuse() -> Worker:
        raise AssertionError("a bounded template started a worker")

    renderer = Renderer(pool=WorkerPool(start=refuse))
    value = {"a": "v{{ inputs.service | upper }}", "b": ["{{ inputs.hosts | join(',') }}"]}
    assert await renderer.render(value, context, where="with") == {"a": "vAPI", "b": ["a,b"]}


async def test_errors_name_the_field_and_the_template(renderer: Renderer, context: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError) as here:
        await renderer.render({"command": ["x", "{{ inputs.nope }}"]}, context, where="with")
    assert here.value.message.startswith("with.command[1]: {{ inputs.nope }}: ")
    with pytest.raises(ExpressionError) as there:
        await renderer.render("{% for x in inputs.nope %}{% endfor %}", context, where="when")
    assert there.value.message.startswith("when: {% for x in inputs.nope %}{% endfor %}: ")
    assert "has no attribute 'nope'" in there.value.message


async def test_a_runaway_template_fails_at_its_time_limit_and_the_loop_stays_free(
    renderer: Renderer, context: dict[str, Any], lag: LoopLag
) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as caught:
        await renderer.render({"command": RUNAWAY}, context, where="with")
    took = time.monotonic() - started
    assert caught.value.message == f"with.command: {RUNAWAY}: template rendering exceeded 500ms"
    assert 0.5 <= took < 5
    assert lag.worst < 0.1, f"the event loop stalled {lag.worst * 1000:.0f} ms"
    # The killed worker is replaced for the next render.
    assert await renderer.render(LOOP, context, where="with") == "a,b,"


@pytest.mark.slow
async def test_a_template_over_the_memory_limit_fails(renderer: Renderer, context: dict[str, Any]) -> None:
    renderer.timeout = 60  # long enough for the limit under test to be met first
    doubling = (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
    )
    with pytest.raises(ExpressionError) as caught:
        await renderer.render(doubling, context, where="outputs.big")
    assert caught.value.message.startswith("outputs.big: {% set ns")
    assert caught.value.message.endswith("template rendering exceeded its memory limit (512 MiB)")


async def test_a_template_over_the_size_limit_fails(renderer: Renderer, context: dict[str, Any]) -> None:
    renderer.timeout = 60  # long enough for the limit under test to be met first
    wide = "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}"
    with pytest.raises(ExpressionError) as caught:
        await renderer.render(wide, context, where="with.text")
    assert caught.value.message == f"with.text: {wide}: renders more than 8,388,608 characters"


async def test_in_a_transaction_a_slow_render_asks_to_come_back(
    renderer: Renderer, context: dict[str, Any]
) -> None:
    started = time.monotonic()
    with pytest.raises(RenderPending) as pending:
        await renderer.render(RUNAWAY, context, where="when", in_transaction=True)
    assert time.monotonic() - started < 0.4, "a transaction waits only a moment"
    await pending.value.wait()
    # Run again (as the engine does), the change finds the outcome of the same request.
    started = time.monotonic()
    with pytest.raises(ExpressionError, match=r"^when: .*template rendering exceeded 500ms$"):
        await renderer.render(RUNAWAY, context, where="when", in_transaction=True)
    assert time.monotonic() - started < 0.1


async def test_a_cancelled_render_kills_its_worker(
    renderer: Renderer, pool: WorkerPool, context: dict[str, Any]
) -> None:
    renderer.timeout = 60  # long enough for the limit under test to be met first
    render = asyncio.create_task(renderer.render(RUNAWAY, context, where="with"))

    def started() -> Worker | None:
        return pool._all[0] if pool._all else None

    worker = await async_wait_until(started, what="a worker")
    await asyncio.sleep(0.1)
    render.cancel()
    with pytest.raises(asyncio.CancelledError):
        await render
    await async_wait_until(lambda: not pid_alive(worker.process.pid), what="the worker to die")
    assert await renderer.render(LOOP, context, where="with") == "a,b,"


async def test_a_worker_that_dies_fails_its_render_and_is_replaced(
    renderer: Renderer, pool: WorkerPool, context: dict[str, Any]
) -> None:
    renderer.timeout = 60  # long enough for the limit under test to be met first

    def started() -> Worker | None:
        return pool._all[0] if pool._all else None

    render = asyncio.create_task(renderer.render({"x": RUNAWAY}, context, where="with"))
    worker = await async_wait_until(started, what="a worker")
    os.kill(worker.process.pid, signal.SIGKILL)
    with pytest.raises(ExpressionError) as caught:
        await render
    assert caught.value.message.startswith(f"with.x: {RUNAWAY}: the render worker failed: it ")
    assert await renderer.render(LOOP, context, where="with") == "a,b,"


async def test_a_render_waiting_for_a_busy_worker_is_not_timed_meanwhile(
    renderer: Renderer, context: dict[str, Any]
) -> None:
    runaway = asyncio.create_task(renderer.render(RUNAWAY, context, where="with.a"))
    waiting = asyncio.create_task(renderer.render(LOOP, context, where="with.b", timeout=0.3))
    with pytest.raises(ExpressionError, match="exceeded 500ms"):
        await runaway
    assert await waiting == "a,b,"  # waited 0.5 s for the only worker, then rendered at once


async def test_a_step_timeout_lowers_the_render_limit_but_never_raises_it(
    renderer: Renderer, context: dict[str, Any]
) -> None:
    with pytest.raises(ExpressionError, match=r"exceeded 500ms$"):  # a step of an hour: 0.5 s still
        await renderer.render(RUNAWAY, context, where="with", timeout=3600)
    with pytest.raises(ExpressionError, match=r"exceeded 200ms$"):
        await renderer.render(RUNAWAY, context, where="with", timeout=0.2)

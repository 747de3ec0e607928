from __future__ import annotations

import asyncio
import itertools

import pytest

from executor.errors import LifecycleError
from executor.lifecycle import ALLOWED, Lifecycle, State


async def test_the_normal_life() -> None:
    lifecycle = Lifecycle()
    assert lifecycle.state is State.IDLE
    for state in (State.RUNNING, State.DRAINING, State.STOPPED):
        await lifecycle.transition(state)
        assert lifecycle.state is state


@pytest.mark.parametrize(
    ("start", "to"),
    [(a, b) for a, b in itertools.product(State, State) if b not in ALLOWED[a]],
)
async def test_every_transition_outside_the_table_raises(start: State, to: State) -> None:
    lifecycle = Lifecycle()
    path = {
        State.IDLE: [],
        State.RUNNING: [State.RUNNING],
        State.DRAINING: [State.RUNNING, State.DRAINING],
        State.STOPPED: [State.RUNNING, State.DRAINING, State.STOPPED],
    }[start]
    for state in path:
        await lifecycle.transition(state)
    with pytest.raises(LifecycleError):
        await lifecycle.transition(to)
    assert lifecycle.state is start


async def test_stopped_is_final() -> None:
    assert ALLOWED[State.STOPPED] == frozenset()


async def test_waiters_wake_on_the_state_they_wait_for() -> None:
    lifecycle = Lifecycle()
    waiter = asyncio.create_task(lifecycle.wait_for(State.DRAINING))
    await lifecycle.transition(State.RUNNING)
    await asyncio.sleep(0)
    assert not waiter.done()
    await lifecycle.transition(State.DRAINING)
    await asyncio.wait_for(waiter, 1)


async def test_abort_implies_stop() -> None:
    lifecycle = Lifecycle()
    lifecycle.request_abort()
    assert lifecycle.stop_requested.is_set() and lifecycle.abort_requested.is_set()

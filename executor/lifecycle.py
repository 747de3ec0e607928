"""The service's lifecycle: one state, a table of the transitions allowed between states.

    idle ──▶ running ──▶ draining ──▶ stopped
      └──────────────────────────────────▲   (stopped before it ever ran)

The service stays `idle` while it opens the database and binds its port; a failed start
releases what it opened and leaves the state at `idle`, from where start may be tried again.

`request_stop()` only asks; the service's main task notices, drains, and moves the state
on. A stopped lifecycle is final: a service is started at most once.
"""

from __future__ import annotations

import asyncio
import enum

from executor.errors import LifecycleError


class State(enum.StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


ALLOWED: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.RUNNING, State.STOPPED}),
    State.RUNNING: frozenset({State.DRAINING}),
    State.DRAINING: frozenset({State.STOPPED}),
    State.STOPPED: frozenset(),
}


class Lifecycle:
    """Holds the current `State`; changes it only along `ALLOWED`, waking whoever waits."""

    def __init__(self) -> None:
        self._state = State.IDLE
        self._changed = asyncio.Condition()
        self._stop_requested = asyncio.Event()
        self._abort_requested = asyncio.Event()

    @property
    def state(self) -> State:
        return self._state

    async def transition(self, to: State) -> None:
        if to not in ALLOWED[self._state]:
            raise LifecycleError(f"cannot go from {self._state.value} to {to.value}")
        self._state = to
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, state: State) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._state is state)

    def request_stop(self) -> None:
        """Ask for a graceful stop (drain). Safe to call from a signal handler, any number of times."""
        self._stop_requested.set()

    def request_abort(self) -> None:
        """Ask to stop at once: in-flight work is cancelled and handed back without waiting."""
        self._stop_requested.set()
        self._abort_requested.set()

    @property
    def stop_requested(self) -> asyncio.Event:
        return self._stop_requested

    @property
    def abort_requested(self) -> asyncio.Event:
        return self._abort_requested

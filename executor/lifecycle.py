"""The service's lifecycle: one state, a table of the transitions allowed between states.

    idle ──▶ running ──▶ draining ──▶ stopped
      └──────────────────────────────────▲   (stopped before it ever ran)

The service stays `idle` while it opens the database and binds its port; a failed start
releases what it opened and leaves the state at `idle`, from where start may be tried again.

`request_stop()` only asks; the service's main task notices, drains, and moves the state
on. A stopped lifecycle is final: a service is started at most once.

A stop requested while the service is still idle ends the start instead: each step of the
start runs `unless_stopped`, which cancels it and raises `Interrupted` (the blocking
migration runs in a thread that hears the stop the same way: `executor.migrate.in_thread`).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from typing import TypeVar

from executor.errors import LifecycleError

T = TypeVar("T")

# The exit status of a command stopped by SIGTERM/SIGINT before it was done (`executor run`,
# `executor migrate`): 128 + SIGINT, as shells report an interrupted command.
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """A stop request ended the start (or a command) before it was done. What it did is
    whole: every change it made is a committed transaction or none, and what it had opened
    is closed. `phase` says what it was doing."""

    def __init__(self, phase: str) -> None:
        super().__init__(f"stopped while {phase}")
        self.phase = phase


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
        # What the start is doing now: the log line of a stop that interrupts it names it.
        # A migrating thread sets it too (a plain attribute: one write, read on the loop).
        self.phase = "starting"

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

    async def unless_stopped(self, phase: str, work: Callable[[], Awaitable[T]]) -> T:
        """Await ``work()``, one step of the start named ``phase``, unless a stop is requested
        first: then cancel it, wait until it has released what it opened, and raise
        `Interrupted`. A step that was done before the cancellation reached it keeps its
        result (the next step then raises)."""
        if self._stop_requested.is_set():
            raise Interrupted(phase)
        self.phase = phase
        task = asyncio.ensure_future(work())
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            raise Interrupted(phase)
        if task.exception() is not None and self._stop_requested.is_set():
            # It failed while being stopped: the failure is the stop's doing.
            raise Interrupted(phase) from task.exception()
        return task.result()

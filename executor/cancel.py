"""Stopping loops that a cancellation may not reach.

On Python 3.11 a cancellation can be lost inside a library: `asyncio.wait_for` swallows one
that arrives as its inner wait completes (fixed in 3.12), and psycopg_pool waits for
connections that way. The task is then still marked as cancelling (`Task.cancelling`), but
nothing raises, and a loop that goes on to sleep and try again would never end: a drain
waiting for it would hang. Every background loop of the service sleeps through `pause`,
which raises the lost cancellation first.
"""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise `CancelledError` when the current task was asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def pause(seconds: float) -> None:
    """`asyncio.sleep`, after raising a cancellation that was lost (see the module)."""
    stop_if_cancelled()
    await asyncio.sleep(seconds)


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; whether it was set. Raises a lost
    cancellation first, like `pause`."""
    stop_if_cancelled()
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True

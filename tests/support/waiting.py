"""Waiting on conditions with a deadline, instead of sleeping and hoping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast, overload

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Call ``condition`` until it returns something truthy; return that, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


@overload
async def async_wait_until(
    condition: Callable[[], Awaitable[T | None]], timeout: float = ..., interval: float = ..., what: str = ...
) -> T: ...


@overload
async def async_wait_until(
    condition: Callable[[], T | None], timeout: float = ..., interval: float = ..., what: str = ...
) -> T: ...


async def async_wait_until(
    condition: Callable[[], Awaitable[T | None] | T | None],
    timeout: float = 10.0,
    interval: float = 0.01,
    what: str = "",
) -> T:
    """`wait_until` for a condition that may be a coroutine function, waiting without blocking."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            # Awaited when it was a coroutine, so no longer an Awaitable: the overloads' T.
            return cast(T, result)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(interval)

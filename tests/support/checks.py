"""Narrowing what a test expects to be there, failing the test (not the type checker) when it is not."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def not_none(value: T | None) -> T:
    """``value``, which the test expects to be set (a time, an error); fails the test when it is None."""
    assert value is not None, "expected a value, got None"
    return value


def not_raised(result: T | BaseException) -> T:
    """One result of ``asyncio.gather(..., return_exceptions=True)`` that should be a value:
    re-raises it when it is an exception."""
    if isinstance(result, BaseException):
        raise result
    return result

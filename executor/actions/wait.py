"""`wait`: wait durably for a signal sent to the run.

A signal sent before the step waits is kept and taken when it starts waiting. With one
name (``signal: approve``) the step's output is the signal's payload; with a list
(``signal: [approve, reject]``) the first of them to arrive is taken (the oldest, of those
already waiting) and the output says which: ``{signal: name, payload: ...}``. With a
`timeout`, the step fails when no signal came in time (and is retried if its policy says so).
"""

from __future__ import annotations

import time
from typing import Any

from executor.actions.context import Attempt
from executor.actions.outcomes import Failed, Outcome, Suspend
from executor.actions.specs import WaitSpec
from executor.durations import format_duration, to_seconds


class Wait(WaitSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        signal = attempt.params["signal"]
        problem = _problem(signal)
        if problem is not None:  # a template gave something else than names
            return Failed(f"signal {problem}", retryable=False)
        timeout = attempt.params.get("timeout")
        wake_at = None
        if timeout is not None:
            wake_at = time.time() + to_seconds(timeout)
        return Suspend(state={"signal": signal, "timeout_at": wake_at}, wake_at=wake_at, signal=signal)

    @staticmethod
    async def resume(attempt: Attempt) -> Outcome:
        # Only a wait with a timeout has a timer that can resume it.
        seconds = to_seconds(attempt.params["timeout"])
        signal = attempt.state["signal"]
        what = f"signal {signal!r}" if isinstance(signal, str) else f"signal of {', '.join(signal)}"
        return Failed(f"no {what} arrived within {format_duration(seconds)}")


def _problem(signal: Any) -> str | None:
    if isinstance(signal, str):
        return None
    if not isinstance(signal, list) or not all(isinstance(name, str) for name in signal):
        return f"must be a name or a list of names, not {signal!r}"
    if not signal:
        return "must name at least one signal"
    if len(set(signal)) < len(signal):
        return f"names a signal twice: {signal!r}"
    return None

"""`wait`: wait durably for a signal sent to the run; the step's output is its payload.

A signal sent before the step waits is kept and taken when it starts waiting. With a
`timeout`, the step fails when no signal came in time (and is retried if its policy says so).
"""

from __future__ import annotations

import time

from executor.actions.context import Attempt
from executor.actions.outcomes import Failed, Outcome, Suspend
from executor.actions.specs import WaitSpec
from executor.durations import format_duration, to_seconds


class Wait(WaitSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        name = str(attempt.params["signal"])
        timeout = attempt.params.get("timeout")
        wake_at = None
        if timeout is not None:
            wake_at = time.time() + to_seconds(timeout)
        return Suspend(state={"signal": name, "timeout_at": wake_at}, wake_at=wake_at, signal=name)

    @staticmethod
    async def resume(attempt: Attempt) -> Outcome:
        # Only a wait with a timeout has a timer that can resume it.
        seconds = to_seconds(attempt.params["timeout"])
        return Failed(f"no signal {attempt.state['signal']!r} arrived within {format_duration(seconds)}")

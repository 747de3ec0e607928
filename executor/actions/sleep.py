"""`sleep`: wait for a duration or until a time, durably: the step holds no worker slot and
its wake-up time is in the database, so the sleep survives restarts."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from executor.actions.context import Attempt
from executor.actions.outcomes import Failed, Outcome, Succeeded, Suspend
from executor.actions.specs import SleepSpec
from executor.durations import to_seconds


def _wake_time(params: dict[str, Any]) -> float:
    if "until" in params:
        text = str(params["until"]).strip().replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError(f"until {params['until']!r} has no time zone (e.g. 2026-12-01T09:00:00Z)")
        return moment.timestamp()
    duration = params["duration"]
    seconds = to_seconds(duration)
    return time.time() + seconds


def _done(wake_at: float) -> Succeeded:
    return Succeeded({"woke_at": datetime.fromtimestamp(wake_at, UTC).isoformat()})


class Sleep(SleepSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        try:
            wake_at = _wake_time(attempt.params)
        except (ValueError, TypeError) as exc:
            return Failed(f"sleep: {exc}", retryable=False)
        if wake_at <= time.time():
            return _done(wake_at)
        return Suspend(state={"wake_at": wake_at}, wake_at=wake_at)

    @staticmethod
    async def resume(attempt: Attempt) -> Outcome:
        wake_at = float(attempt.state["wake_at"])
        if wake_at <= time.time():
            return _done(wake_at)
        return Suspend(state=attempt.state, wake_at=wake_at)

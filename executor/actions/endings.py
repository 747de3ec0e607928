"""`terminate` and `cancel`: steps that end their run, or a region of it, from inside.

Both succeed at once; what they ask for (`EndRun`, `CancelRegion`) the engine does in the
same transaction that records them (`executor.engine.endings`).
"""

from __future__ import annotations

from executor.actions.context import Attempt
from executor.actions.outcomes import CancelRegion, EndRun, Failed, Outcome
from executor.actions.specs import ENDINGS, CancelSpec, TerminateSpec


class Terminate(TerminateSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        status = attempt.params["status"]
        if status not in ENDINGS:  # a template gave it
            return Failed(f"with.status: {status!r} is not one of: {', '.join(ENDINGS)}", retryable=False)
        message = attempt.params.get("message")
        message = "" if message is None else str(message)
        return EndRun({"status": status, "message": message}, status=status, message=message)


class Cancel(CancelSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        steps = [str(step) for step in attempt.params["steps"]]
        return CancelRegion({"cancelled": steps}, steps=tuple(steps))

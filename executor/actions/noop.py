"""`noop`: its result is its `output` parameter, templated. For shaping data and joins."""

from __future__ import annotations

from executor.actions.context import Attempt
from executor.actions.outcomes import Outcome, Succeeded
from executor.actions.specs import NoopSpec


class Noop(NoopSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        return Succeeded(attempt.params.get("output"))

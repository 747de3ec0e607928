"""`workflow`: start a child run and wait for it durably. The step's output is the child's
outputs; the child failing fails the step; cancelling the parent cancels the child."""

from __future__ import annotations

from executor.actions.context import Attempt
from executor.actions.outcomes import ChildRun, Failed, Outcome, Suspend
from executor.actions.specs import WorkflowSpec


class StartWorkflow(WorkflowSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        params = attempt.params
        version = params.get("version")
        return Suspend(
            state={"workflow": params["name"]},
            child=ChildRun(
                workflow=str(params["name"]),
                input=params.get("input") or {},
                version=int(version) if version is not None else None,
            ),
        )

    @staticmethod
    async def resume(attempt: Attempt) -> Outcome:
        # A child run completes the step itself; a timer never wakes this step.
        return Failed("workflow step woke without its child run finishing", retryable=False)

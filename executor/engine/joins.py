"""Joins that cancel the rest: a step with ``cancel_remaining: true`` cancels, when it
starts, those of its needs that are still not final (a cancelling discriminator, or a
cancelling partial join with ``trigger_rule: {min_success: N}``).

A cancelled need is final and not failed: it does not fail the run, and its other
dependents follow their trigger rules (cancelled counts as skipped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from executor.statuses import StepStatus
from executor.workflow import Step

if TYPE_CHECKING:
    from executor.engine.transitions import RunChange


async def started(change: RunChange, step: Step) -> None:
    """``step`` was just started (queued, running, or failed at once): with
    ``cancel_remaining``, cancel its needs still going. Called once the step has left
    `pending`, so the run moving on from a cancelled need never starts it twice."""
    if step.cancel_remaining and change.step_level[step.id].status != StepStatus.SKIPPED:
        await cancel_needs(change, step)


async def cancel_needs(change: RunChange, step: Step) -> None:
    """Cancel the needs of ``step`` that are not final (their items and child runs too),
    then move the run on from each of them."""
    await change.cancel_steps(step.needs, f"cancelled by step {step.id} (cancel_remaining)")

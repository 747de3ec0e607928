"""The run and step state machines, and the trigger rules: the tables the engine obeys.

Every change of a step's or a run's status goes through `check_step` / `check_run`, so a
transition missing from these tables is a bug that raises instead of corrupting a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from executor.errors import ExecutorError

STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    # pending → running: a for_each step, whose items run under it
    # pending → succeeded: a for_each over no items; pending → failed: `when`/`for_each` broke
    "pending": frozenset({"queued", "running", "skipped", "cancelled", "failed", "succeeded"}),
    "queued": frozenset({"running", "cancelled", "pending"}),
    # running → queued: a retry after a failed attempt, or a hand-back on drain
    "running": frozenset({"succeeded", "failed", "queued", "waiting", "cancelled"}),
    # waiting → running: its timer fell due; → succeeded: its signal or child run arrived
    "waiting": frozenset({"running", "succeeded", "failed", "cancelled"}),
    "succeeded": frozenset(),
    # final states reopen only when a failed run is retried
    "failed": frozenset({"pending"}),
    "skipped": frozenset({"pending"}),
    "cancelled": frozenset({"pending"}),
}

RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "paused", "succeeded", "failed", "cancelled"}),
    "running": frozenset({"paused", "succeeded", "failed", "cancelled"}),
    "paused": frozenset({"running", "pending", "failed", "cancelled"}),
    "succeeded": frozenset(),
    "failed": frozenset({"running"}),  # retry
    "cancelled": frozenset(),
}


class TransitionError(ExecutorError):
    """An engine bug: a status change the tables do not allow."""


def check_step(old: str, new: str) -> None:
    if old != new and new not in STEP_TRANSITIONS[old]:
        raise TransitionError(f"a step cannot go from {old} to {new}")


def check_run(old: str, new: str) -> None:
    if old != new and new not in RUN_TRANSITIONS[old]:
        raise TransitionError(f"a run cannot go from {old} to {new}")


Decision = Literal["wait", "run", "skip"]


def trigger(rule: str, needs: Sequence[tuple[str, str | None]]) -> tuple[Decision, str]:
    """Decide from the needs' effective states whether a step runs, waits or is skipped.

    ``needs`` holds ``(step id, state)`` with state one of succeeded / failed / skipped
    (cancelled counts as skipped), or None while the need is not final. A need that failed
    with ``continue_on_error`` must be passed as succeeded. Returns the decision and, for a
    skip, the reason. Meanings follow Airflow's trigger rules.
    """
    if not needs:
        return "run", ""
    done = all(state is not None for _, state in needs)
    succeeded = [n for n, s in needs if s == "succeeded"]
    failed = [n for n, s in needs if s == "failed"]
    not_succeeded = [f"{n} {s}" for n, s in needs if s is not None and s != "succeeded"]
    if rule == "all_success":
        if not_succeeded:
            return "skip", f"trigger rule all_success: need {not_succeeded[0]}"
        return ("run", "") if done else ("wait", "")
    if rule == "all_failed":
        not_failed = [f"{n} {s}" for n, s in needs if s is not None and s != "failed"]
        if not_failed:
            return "skip", f"trigger rule all_failed: need {not_failed[0]}"
        return ("run", "") if done else ("wait", "")
    if rule == "all_done":
        return ("run", "") if done else ("wait", "")
    if rule == "one_success":
        if succeeded:
            return "run", ""
        return ("skip", "trigger rule one_success: no need succeeded") if done else ("wait", "")
    if rule == "one_failed":
        if failed:
            return "run", ""
        return ("skip", "trigger rule one_failed: no need failed") if done else ("wait", "")
    if rule == "none_failed":
        if failed:
            return "skip", f"trigger rule none_failed: need {failed[0]} failed"
        return ("run", "") if done else ("wait", "")
    raise TransitionError(f"unknown trigger rule {rule}")

"""The run and step state machines, and the trigger rules: the tables the engine obeys.

Every change of a step's or a run's status goes through `check_step` / `check_run`, so a
transition missing from these tables is a bug that raises instead of corrupting a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from executor.errors import ExecutorError
from executor.statuses import RunStatus, StepStatus

# Short names for the step table only (deleted below it).
P, Q, R, W = StepStatus.PENDING, StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING
S, F, K, C = StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED

STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    # pending → running: a for_each step, whose items run under it
    # pending → succeeded: a for_each over no items; pending → failed: `when`/`for_each` broke
    # pending → waiting: its mutex/semaphore is held, it waits in line (`exclusion`)
    P: frozenset({Q, R, K, C, F, S, W}),
    Q: frozenset({R, C, P}),
    # running → queued: a retry after a failed attempt, a hand-back on drain, or a `repeat`
    # step's next iteration
    R: frozenset({S, F, Q, W, C}),
    # waiting → running: its timer fell due; → succeeded: its signal or child run arrived;
    # → queued: a `repeat` step's next iteration after its signal or child run arrived, or
    # a step let in under its key; → skipped: let in, its `when` is false now
    W: frozenset({R, S, F, C, Q, K}),
    # succeeded → pending: `RunChange.reopen` (a `goto` sends the run back over it, or an
    # operator retries a step it depends on); it runs again as a new iteration
    S: frozenset({P}),
    # final states reopen when a failed run is retried, or by `RunChange.reopen`
    F: frozenset({P}),
    K: frozenset({P}),
    C: frozenset({P}),
}
del P, Q, R, W, S, F, K, C

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset(
        {RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
    RunStatus.RUNNING: frozenset(
        {RunStatus.PAUSED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
    RunStatus.PAUSED: frozenset(
        {RunStatus.RUNNING, RunStatus.PENDING, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
    RunStatus.SUCCEEDED: frozenset(),
    # retry; `pending` while it waits in line for its concurrency key (`exclusion.comeback`)
    RunStatus.FAILED: frozenset({RunStatus.RUNNING, RunStatus.PENDING}),
    RunStatus.CANCELLED: frozenset(),
}


class TransitionError(ExecutorError):
    """An engine bug: a status change the tables do not allow."""


def check_step(old: StepStatus, new: StepStatus) -> None:
    if old != new and new not in STEP_TRANSITIONS[old]:
        raise TransitionError(f"a step cannot go from {old} to {new}")


def check_run(old: RunStatus, new: RunStatus) -> None:
    if old != new and new not in RUN_TRANSITIONS[old]:
        raise TransitionError(f"a run cannot go from {old} to {new}")


Decision = Literal["wait", "run", "skip"]


def trigger(
    rule: str | Mapping[str, int], needs: Sequence[tuple[str, StepStatus | None]]
) -> tuple[Decision, str]:
    """Decide from the needs' effective states whether a step runs, waits or is skipped.

    ``needs`` holds ``(step id, state)`` with state one of succeeded / failed / skipped
    (cancelled counts as skipped), or None while the need is not final. A need that failed
    with ``continue_on_error`` must be passed as succeeded. Returns the decision and, for a
    skip, the reason. Meanings follow Airflow's trigger rules; a mapping is an N-of-M join
    (`partial`).
    """
    if not needs:
        return "run", ""
    if isinstance(rule, Mapping):
        return partial(rule, needs)
    done = all(state is not None for _, state in needs)
    succeeded = [n for n, s in needs if s == StepStatus.SUCCEEDED]
    failed = [n for n, s in needs if s == StepStatus.FAILED]
    not_succeeded = [f"{n} {s}" for n, s in needs if s is not None and s != StepStatus.SUCCEEDED]
    if rule == "all_success":
        if not_succeeded:
            return "skip", f"trigger rule all_success: need {not_succeeded[0]}"
        return ("run", "") if done else ("wait", "")
    if rule == "all_failed":
        not_failed = [f"{n} {s}" for n, s in needs if s is not None and s != StepStatus.FAILED]
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
    if rule == "none_failed_min_one_success":
        if failed:
            return "skip", f"trigger rule none_failed_min_one_success: need {failed[0]} failed"
        if not done:
            return "wait", ""
        if not succeeded:
            return "skip", "trigger rule none_failed_min_one_success: no need succeeded"
        return "run", ""
    raise TransitionError(f"unknown trigger rule {rule}")


def partial(rule: Mapping[str, int], needs: Sequence[tuple[str, StepStatus | None]]) -> tuple[Decision, str]:
    """An N-of-M join: ``{min_success: N}`` runs once N needs succeeded and is skipped once
    fewer than N still can; ``{min_done: N}`` runs once N needs are final (any state)."""
    ((kind, count),) = rule.items()
    final = [state for _, state in needs if state is not None]
    if kind == "min_done":
        return ("run", "") if len(final) >= count else ("wait", "")
    succeeded = sum(1 for state in final if state == StepStatus.SUCCEEDED)
    if succeeded >= count:
        return "run", ""
    possible = succeeded + len(needs) - len(final)  # those that succeeded or are not final
    if possible < count:
        return "skip", f"trigger rule min_success {count}: at most {possible} needs can succeed"
    return "wait", ""

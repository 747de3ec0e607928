"""A step's attempt history: one entry per attempt that ended, oldest first, kept in the
step row (``history``) and shown by the API.

    {"attempt": 2, "outcome": "lost", "reason": "lease expired", "instance": "vm3-812-1a2b",
     "started_at": 1764590000.1, "ended_at": 1764590031.5}

``outcome`` is ``succeeded``, ``failed`` (with ``error``) or ``lost``: the attempt's
instance died, hung or lost its lease (``reason`` ``lease expired``), or a drain handed it
back (``reason`` ``drain``; the store writes those entries itself, see `Store.hand_back`).

A lost attempt is not a failed one: it does not spend ``retry.max_attempts`` (which counts
the attempts not lost) and waits for no backoff. Only a run of lost attempts in a row, drains
aside, stops a step (the poison-step brake, `lost_in_a_row`).

A step that runs more than once in a run (a `repeat` loop, a `goto` or an operator's retry
sending the run back over it) keeps one history: attempt numbers go on across iterations, and
each entry after the first iteration carries its ``iteration`` (0-based; absent: 0); a
repeated `workflow` step's entries name their ``child_run_id``. Each iteration gets a fresh
retry budget: only its own attempts are spent (``base``, see `iteration_of`).
"""

from __future__ import annotations

from typing import Any, Literal

from executor.store.records import StepRow

Entry = dict[str, Any]
LOST = "lost"
DRAIN = "drain"
LOOP = "loop"  # the key of a step row's `state` that holds its iteration (`engine.cycles`)


def iteration_of(row: StepRow) -> dict[str, Any]:
    """The row's iteration counters: ``iteration`` (0-based), ``base`` (attempts spent by
    earlier iterations), and `engine.cycles`' own; empty for a step that never iterated."""
    state = row.state if isinstance(row.state, dict) else {}
    loop = state.get(LOOP)
    return loop if isinstance(loop, dict) else {}


def ended(
    row: StepRow,
    outcome: Literal["succeeded", "failed", "lost"],
    now: float,
    *,
    error: str | None = None,
    reason: str | None = None,
) -> list[Entry]:
    """``row``'s history with its running attempt ended as ``outcome``."""
    entry: Entry = {
        "attempt": row.attempt,
        "outcome": outcome,
        "instance": row.lease_owner,
        "started_at": row.started_at,
        "ended_at": now,
    }
    if error is not None:
        entry["error"] = error
    if reason is not None:
        entry["reason"] = reason
    loop = iteration_of(row)
    if "iteration" in loop:
        entry["iteration"] = loop["iteration"]
    if isinstance(row.state, dict) and "child_run_id" in row.state:  # a repeated `workflow` step
        entry["child_run_id"] = row.state["child_run_id"]
    return [*(row.history or ()), entry]


def was_lost(row: StepRow | None, attempt: int) -> bool:
    """Whether attempt ``attempt`` of ``row`` ended lost (its lease ran out, it was reaped),
    rather than stopped by a change (a cancel, a reopen)."""
    entries = (row.history or []) if row is not None else []
    return any(entry.get("attempt") == attempt and entry.get("outcome") == "lost" for entry in entries)


def spent(row: StepRow) -> int:
    """The attempts that count against ``retry.max_attempts``: those of this iteration not lost.

    An earlier attempt counts unless it ended lost. A durable step resumed after a loss goes
    on under the same attempt number (its wait is not started again), so the current
    attempt always counts, whatever was lost of it before."""
    base = int(iteration_of(row).get("base", 0))
    last: dict[Any, Any] = {}
    for entry in row.history or ():
        last[entry.get("attempt")] = entry.get("outcome")
    return (row.attempt - base) - sum(
        1
        for number, outcome in last.items()
        if outcome == LOST and number != row.attempt and isinstance(number, int) and number > base
    )


def lost_in_a_row(history: list[Entry] | None) -> list[Entry]:
    """The lost attempts at the end of ``history``, newest last; a drain's hand-back neither
    counts nor breaks the run (a rolling deploy is not the step's fault)."""
    streak: list[Entry] = []
    for entry in reversed(history or ()):
        if entry.get("outcome") != LOST:
            break
        if entry.get("reason") != DRAIN:
            streak.append(entry)
    return streak[::-1]

"""The statuses of runs and steps: one `StrEnum` each, used by the store, the engine, the
HTTP schemas and the OpenAPI document alike (the values are what the database and the API
hold). Which changes between them are allowed is the engine's table (`engine.states`).

An attempt has no status of its own: it ends in an outcome (`executor.actions.outcomes`),
and its step row carries the status.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"  # accepted, no step claimed yet
    RUNNING = "running"
    PAUSED = "paused"  # no step of it is claimed until it is resumed
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    PENDING = "pending"  # its needs are not settled yet
    QUEUED = "queued"  # ready to be claimed once `available_at` has passed
    RUNNING = "running"  # an attempt holds a lease on it
    WAITING = "waiting"  # suspended (sleep, wait, child run): holds no worker slot
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # its trigger rule or `when` said no
    CANCELLED = "cancelled"


RUN_FINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
STEP_FINAL = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED})

# How a terminal shows a step's progress, the same in `executor run` and the remote CLI's
# `--wait`/`--follow`.
STEP_MARKS = {
    StepStatus.RUNNING: "▶",
    StepStatus.SUCCEEDED: "✓",
    StepStatus.FAILED: "✗",
    StepStatus.SKIPPED: "-",
    StepStatus.CANCELLED: "⊘",
    StepStatus.WAITING: "⏸",
}


def in_line(kind: str, key: str, position: int | None = None) -> str:
    """What a run or step waiting in a key's line waits for, as both terminals show it:
    ``waiting for mutex ledger (2nd in line)``; ``kind`` is mutex, semaphore or concurrency."""
    what = "concurrency key" if kind == "concurrency" else kind
    if position is None or position < 1:
        return f"waiting for {what} {key}"
    last = position % 10 if position % 100 not in (11, 12, 13) else 0
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(last, "th")
    return f"waiting for {what} {key} ({position}{suffix} in line)"

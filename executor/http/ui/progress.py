"""What a run's step rows say about its progress, shaped for the run and step pages: one
summary per step (with its for_each items counted, never listed), the timeline's bars, and
the live state the page's script applies without redrawing the page.

A run may hold thousands of steps and a for_each thousands of items: everything here is one
pass over the rows, and the live state carries counts, not items.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from executor.statuses import RUN_FINAL, STEP_FINAL, RunStatus, StepStatus, in_line
from executor.store.records import RunRecord, StepRow

# Which run actions apply in which status: what `RunChange` accepts (a 409 otherwise).
ACTIONS: dict[str, frozenset[RunStatus]] = {
    "cancel": frozenset(RunStatus) - RUN_FINAL,
    "pause": frozenset({RunStatus.PENDING, RunStatus.RUNNING}),
    "resume": frozenset({RunStatus.PAUSED}),
    "retry": frozenset({RunStatus.FAILED}),
    "signal": frozenset(RunStatus) - RUN_FINAL,
}
# The order statuses are listed in, in item counts and summaries.
STATUS_ORDER = [status.value for status in StepStatus]
ERROR_LINE = 200  # characters of an error's first line in tables and in the live state


def first_line(text: str | None) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= ERROR_LINE else line[: ERROR_LINE - 1] + "…"


def counts_text(counts: dict[str, int], total: int) -> str:
    """``"3 succeeded · 1 running of 50"``: an item summary, statuses in their usual order."""
    parts = [f"{counts[status]} {status}" for status in STATUS_ORDER if counts.get(status)]
    return f"{' · '.join(parts) or 'none'} of {total}"


@dataclass
class StepSummary:
    """One step of a run: its step-level row, its action, and its items counted by status."""

    row: StepRow
    action: str = ""
    items: Counter[str] = field(default_factory=Counter)

    @property
    def id(self) -> str:
        return self.row.step_id

    @property
    def total(self) -> int:
        return sum(self.items.values())

    @property
    def done(self) -> int:
        return sum(n for status, n in self.items.items() if status in STEP_FINAL)

    @property
    def count(self) -> str:
        """``"done/total"`` for a for_each step whose items exist, else empty (the graph's label)."""
        return f"{self.done}/{self.total}" if self.items else ""

    @property
    def items_text(self) -> str:
        return counts_text(dict(self.items), self.total) if self.items else ""

    @property
    def error_line(self) -> str:
        waiting = (self.row.state or {}).get("waiting_for") if self.row.status == StepStatus.WAITING else None
        if isinstance(waiting, dict):  # in a key's line (`engine.exclusion`)
            return in_line(str(waiting.get("kind", "key")), str(waiting.get("key")))
        return first_line(self.row.error)


def summarize(definition: dict[str, Any], rows: list[StepRow]) -> list[StepSummary]:
    """The run's steps in the workflow's order, its `finally` steps after them (steps the
    definition lacks come last)."""
    declared = [*(definition.get("steps") or ()), *(definition.get("finally") or ())]
    actions = {step["id"]: step.get("action", "") for step in declared}
    order = {step_id: index for index, step_id in enumerate(actions)}
    steps: dict[str, StepSummary] = {}
    for row in rows:
        if row.item_index == -1:
            steps[row.step_id] = StepSummary(row, actions.get(row.step_id, ""))
    for row in rows:
        if row.item_index >= 0 and row.step_id in steps:
            steps[row.step_id].items[row.status.value] += 1
    return sorted(steps.values(), key=lambda step: (order.get(step.id, len(order)), step.id))


def _ms(value: float | None) -> float | None:
    """A time to the millisecond: what a timeline can show, in fewer characters."""
    return None if value is None else round(value, 3)


def bars(row: StepRow) -> list[list[Any]]:
    """The row's attempts as timeline bars ``[start, end, outcome, attempt]`` (end None: still
    going): one per ended attempt of its history (succeeded, failed, lost), then the current
    one while it runs or waits. An attempt that ended without entering the history (a wait
    ended by its signal, a for_each step over its items, a step cancelled) is one bar of
    the row's status."""
    found: list[list[Any]] = [
        [
            _ms(entry.get("started_at")),
            _ms(entry.get("ended_at")),
            entry.get("outcome", ""),
            entry.get("attempt"),
        ]
        for entry in row.history or ()
        if entry.get("started_at") is not None
    ]
    if row.started_at is None:
        return found
    going = row.status in (StepStatus.RUNNING, StepStatus.WAITING)
    recorded = bool(found) and found[-1][3] == row.attempt
    if going or (row.final and not recorded):
        found.append(
            [_ms(row.started_at), None if going else _ms(row.finished_at), row.status.value, row.attempt]
        )
    return found


def live_state(run: RunRecord, steps: list[StepSummary]) -> dict[str, Any]:
    """What the run page's script applies to the graph, the timeline, the steps table and the
    action buttons. The page adds the clock (``now``) after taking its `digest`."""
    return {
        "run": {
            "status": run.status.value,
            "final": run.status in RUN_FINAL,
            "start": run.started_at if run.started_at is not None else run.created_at,
            "end": run.finished_at,
            "actions": {name: run.status in statuses for name, statuses in ACTIONS.items()},
        },
        "steps": [_step_state(step) for step in steps],
    }


def _step_state(step: StepSummary) -> dict[str, Any]:
    state: dict[str, Any] = {
        "id": step.id,
        "status": step.row.status.value,
        "attempts": step.row.attempt,
        "started": _ms(step.row.started_at),
        "finished": _ms(step.row.finished_at),
        "bars": bars(step.row),
    }
    # Left out when empty, as most are: a run of thousands of steps polls this state.
    for key, text in (("count", step.count), ("items", step.items_text), ("error", step.error_line)):
        if text:
            state[key] = text
    return state


def digest(state: dict[str, Any]) -> str:
    """A short fingerprint of the live state: the page asks again with it, and an unchanged
    state costs a 204 instead of the whole state again."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

"""Starting many runs in one change (`Engine.submit_many`): one transaction, one answer per
submission.

Each submission is what `Engine.submit` takes, and is checked as `RunChange.create` checks
one run: its workflow (a version, or the latest), its input against the workflow's input
schema, an idempotency key that answers with the run it started. A submission refused (an
unknown workflow or version, an input its workflow refuses) gets its error as its answer
and the others are created all the same; any other failure (the database's) fails the
change whole, and the group commit rolls it back: nothing of it is written.

The runs are inserted at once (`Txn.insert_runs`: a statement or two, not two per run),
then each is started as `RunChange.create` starts one. A second submission with the key of
a first (same workflow) answers with the first's run, as a later request would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from executor.engine.transitions import ChangeScope, RunChange
from executor.errors import ExecutorError, InputInvalid, WorkflowNotFound
from executor.store.base import Txn
from executor.store.records import NewRun, NewStep, Origin, RunRecord
from executor.workflow import Workflow

MAX_BATCH = 1000  # submissions per change: bounds how long one transaction holds the write lock


@dataclass(frozen=True)
class Submission:
    """One run to start, as `Engine.submit` takes it."""

    workflow: str
    input: Any = None
    version: int | None = None
    idempotency_key: str | None = None
    priority: int = 0


# Per submission: (the run, True when created; False: its idempotency key's run), or the
# error that refused it.
Submitted = tuple[RunRecord, bool] | ExecutorError


async def create_all(
    txn: Txn, scope: ChangeScope, submissions: Sequence[Submission], origin: Origin
) -> list[Submitted]:
    """Create the runs of ``submissions`` in ``txn``: each checked as `RunChange.create` checks
    one, then all inserted at once (`Txn.insert_runs`), then each started in order; the
    answer of each."""
    answers: list[Submitted | None] = [None] * len(submissions)
    firsts: dict[tuple[str, str], int] = {}  # (workflow, key) -> the submission that uses it first
    again: list[tuple[int, int]] = []  # (submission, the earlier one with its key)
    ready: list[tuple[int, NewRun, Workflow]] = []
    for index, submission in enumerate(submissions):
        key = submission.idempotency_key
        if key is not None:
            first = firsts.get((submission.workflow, key))
            if first is not None:
                again.append((index, first))
                continue
            existing = await txn.find_run(submission.workflow, key)
            if existing is not None:
                answers[index] = (existing, False)
                continue
        try:
            new, workflow = await RunChange.prepare(
                txn, scope, submission.workflow, {} if submission.input is None else submission.input,
                version=submission.version, idempotency_key=key, priority=submission.priority, origin=origin,
            )  # fmt: skip
        except (WorkflowNotFound, InputInvalid) as exc:  # nothing written: its own answer
            answers[index] = exc
            continue
        if key is not None:
            firsts[(submission.workflow, key)] = index
        ready.append((index, new, workflow))
    inserted = await txn.insert_runs(
        [(new, [NewStep(step.id) for step in workflow.steps]) for _, new, workflow in ready]
    )
    for (index, new, workflow), created in zip(ready, inserted, strict=True):
        if created is None:  # a concurrent request with its key won the race
            answers[index] = (await RunChange.winner(txn, new), False)
        else:
            run, rows = created
            answers[index] = (await RunChange.start(txn, scope, run, workflow, rows), True)
    for index, first in again:
        earlier = answers[first]
        assert isinstance(earlier, tuple)
        answers[index] = (earlier[0], False)
    assert all(answer is not None for answer in answers)
    return [answer for answer in answers if answer is not None]

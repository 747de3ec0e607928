"""What the store contract tests share: a clock they move, and runs made without an engine."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Unpack

from executor.statuses import StepStatus
from executor.store import Store
from executor.store.records import Claimed, NewRun, NewStep, RunChanges, RunRecord, StepChanges, StepRow

OpenStore = Callable[[], AbstractAsyncContextManager[Store]]
"""The ``open_store`` fixture: opens another store on the test's database and clock."""

# A whole number of seconds, and steps of whole or half seconds: exact both as SQLite's
# REAL and as PostgreSQL's timestamptz (microseconds).
START = 1_750_000_000.0


class FakeClock:
    """A `Clock` that stands still until the test moves it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


async def workflow(store: Store, name: str = "w") -> int:
    """The version of workflow ``name``, registered on first use."""
    record = await store.get_workflow(name)
    if record is None:
        record, _ = await store.register_workflow(name, f"digest-{name}", f"name: {name}", {"name": name})
    return record.version


async def new_run(
    store: Store,
    steps: Sequence[NewStep] = (),
    *,
    name: str = "w",
    run_input: Any = None,
    key: str | None = None,
    priority: int = 0,
    deadline_at: float | None = None,
    parent: tuple[str, int] | None = None,
) -> str:
    """A run of workflow ``name`` with these step rows, committed; returns its id."""
    version = await workflow(store, name)
    run_id = str(uuid.uuid4())
    async with store.transaction() as txn:
        await txn.insert_run(
            NewRun(
                id=run_id,
                workflow_name=name,
                workflow_version=version,
                input={"n": 1} if run_input is None else run_input,
                idempotency_key=key,
                priority=priority,
                parent_run_id=parent[0] if parent else None,
                parent_step=parent[1] if parent else None,
                deadline_at=deadline_at,
            )
        )
        if steps:
            await txn.insert_steps(run_id, steps)
    return run_id


def queued(step_id: str, at: float, item_index: int = -1) -> NewStep:
    return NewStep(step_id, item_index=item_index, status=StepStatus.QUEUED, available_at=at)


def waiting(step_id: str, at: float, state: Any = None) -> NewStep:
    return NewStep(step_id, status=StepStatus.WAITING, available_at=at, state=state)


async def claim(store: Store, owner: str = "me", limit: int = 10, lease: float = 30.0) -> list[Claimed]:
    """A claim in a transaction of its own."""
    async with store.transaction() as txn:
        return await txn.claim(owner, limit, lease)


async def run_of(store: Store, run_id: str) -> tuple[RunRecord, dict[str, StepRow]]:
    """A run and its rows by step id (items as ``step[index]``)."""
    found = await store.get_run(run_id)
    assert found is not None, f"no run {run_id}"
    run, rows = found
    return run, {r.step_id if r.item_index < 0 else f"{r.step_id}[{r.item_index}]": r for r in rows}


async def row(store: Store, row_id: int) -> StepRow:
    async with store.transaction() as txn:
        found = await txn.get_step(row_id)
    assert found is not None, f"no step row {row_id}"
    return found


async def set_run(store: Store, run_id: str, **changes: Unpack[RunChanges]) -> None:
    async with store.transaction() as txn:
        await txn.update_run(run_id, **changes)


async def set_step(store: Store, row_id: int, **changes: Unpack[StepChanges]) -> None:
    async with store.transaction() as txn:
        await txn.update_step(row_id, **changes)

"""An engine running in this process on a real database, for engine tests."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypedDict, Unpack

from executor import migrate
from executor.artifacts import Artifacts, Limits
from executor.engine import Engine, Event
from executor.engine.core import DEFAULT_LIMITS
from executor.statuses import RUN_FINAL
from executor.store import create_store
from executor.store.records import RunRecord, StepRow
from executor.store.url import DatabaseURL
from executor.workflow import parse_workflow
from tests.support.databases import POOL_SIZE


class SubmitOptions(TypedDict, total=False):
    """The keywords of `Engine.submit`, passed on as given (its defaults stay its own)."""

    version: int | None
    idempotency_key: str | None
    priority: int


class Harness:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.events: list[Event] = []
        engine.listeners.append(self.events.append)

    async def register(self, text: str) -> str:
        workflow = parse_workflow(text)
        await self.engine.register(workflow, text)
        return workflow.name

    async def submit(self, text_or_name: str, run_input: Any = None, **kwargs: Unpack[SubmitOptions]) -> str:
        name = await self.register(text_or_name) if "\n" in text_or_name else text_or_name
        run, _ = await self.engine.submit(name, run_input, **kwargs)
        return run.id

    async def wait(
        self, run_id: str, statuses: frozenset[str] | set[str] = RUN_FINAL, timeout: float = 20
    ) -> tuple[RunRecord, dict[str, StepRow]]:
        deadline = time.monotonic() + timeout
        while True:
            run, rows = await self.engine.get(run_id)
            if run.status in statuses:
                return run, {
                    r.step_id if r.item_index < 0 else f"{r.step_id}[{r.item_index}]": r for r in rows
                }
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"run {run_id} still {run.status} after {timeout}s: {[(r.step_id, r.status) for r in rows]}"
                )
            await asyncio.sleep(0.02)

    async def wait_step(self, run_id: str, step: str, status: str, timeout: float = 20) -> StepRow:
        deadline = time.monotonic() + timeout
        while True:
            _, rows = await self.engine.get(run_id)
            for row in rows:
                if row.step_id == step and row.item_index < 0 and row.status == status:
                    return row
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"step {step} of {run_id} never became {status}: {[(r.step_id, r.status) for r in rows]}"
                )
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running_engine(
    database_url: str, *, concurrency: int = 16, lease: float = 5.0, secrets: dict[str, str] | None = None,
    migrated: bool = True, artifacts_dir: Path | None = None, limits: Limits | None = None,
) -> AsyncIterator[Harness]:  # fmt: skip
    """An engine with its claim loop and lease upkeep running; drained on exit.

    The database fixtures give migrated databases; ``migrated=False`` migrates one first."""
    database = DatabaseURL.parse(database_url)
    if not migrated:
        migrate.apply(database)
    store = create_store(database, pool_size=POOL_SIZE)
    await store.open()
    engine = Engine(
        store, instance_id=f"test-{os.getpid()}-{id(store)}", concurrency=concurrency, poll_interval=0.2, lease=lease,
        secrets=secrets or {},
        artifacts=Artifacts(store, limits or DEFAULT_LIMITS, artifacts_dir),
    )  # fmt: skip
    claims = asyncio.create_task(engine.loop.run())
    upkeep = asyncio.create_task(engine.leases.maintain())
    try:
        yield Harness(engine)
    finally:
        await engine.loop.drain(0)
        await claims
        upkeep.cancel()
        try:
            await upkeep
        except asyncio.CancelledError:
            pass
        from executor.actions.http import close_client

        await close_client()
        await store.close()

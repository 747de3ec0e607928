"""Submitting runs to, and reading runs from, a database that a service process works on.

Until the HTTP API exists this is how tests hand work to an `executor` subprocess: a second
process on the same database, as a fleet member that only submits would be.
"""

from __future__ import annotations

import asyncio
from typing import Any

from executor.engine.engine import Engine
from executor.store import create_store
from executor.store.records import RunRecord, StepRow, WorkflowRecord
from executor.store.url import DatabaseURL
from executor.workflow import parse_workflow


async def _with_engine(url: str, work: Any) -> Any:
    store = create_store(DatabaseURL.parse(url))
    await store.open()
    try:
        return await work(Engine(store, instance_id="test-client", secrets={}))
    finally:
        await store.close()


def submit(url: str, flow: str, inputs: list[Any]) -> list[str]:
    async def work(engine: Engine) -> list[str]:
        workflow = parse_workflow(flow)
        await engine.register(workflow, flow)
        return [(await engine.submit(workflow.name, value))[0].id for value in inputs]

    return asyncio.run(_with_engine(url, work))


def runs(url: str, run_ids: list[str]) -> list[tuple[RunRecord, list[StepRow]]]:
    async def work(engine: Engine) -> list[tuple[RunRecord, list[StepRow]]]:
        return [await engine.get(run_id) for run_id in run_ids]

    return asyncio.run(_with_engine(url, work))


def workflows(url: str) -> list[WorkflowRecord]:
    """The latest version of every workflow registered in the database, by name."""

    async def work(engine: Engine) -> list[WorkflowRecord]:
        return await engine.store.list_workflows()

    return asyncio.run(_with_engine(url, work))

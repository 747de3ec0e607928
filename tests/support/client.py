"""Submitting runs to, and reading runs from, a database that a service process works on.

Until the HTTP API exists this is how tests hand work to an `executor` subprocess: a second
process on the same database, as a fleet member that only submits would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from executor.engine import Engine
from executor.store import create_store
from executor.store.records import RunRecord, StepRow, WorkflowRecord
from executor.store.url import DatabaseURL
from executor.workflow import parse_workflow
from tests.support.databases import POOL_SIZE

T = TypeVar("T")


async def _with_engine(url: str, work: Callable[[Engine], Awaitable[T]]) -> T:
    store = create_store(DatabaseURL.parse(url), pool_size=POOL_SIZE)
    await store.open()
    try:
        engine = Engine(
            store, instance_id="test-client", concurrency=1, poll_interval=1.0, lease=30.0, secrets={}
        )
        return await work(engine)
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

"""API tests talk HTTP to a real service (hypercorn on a free port) on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from executor.lifecycle import State
from executor.service import Service
from executor.settings import parse_settings
from tests.support.api import ApiClient


@dataclass
class Running:
    service: Service
    client: ApiClient


async def start_service(database_url: str, **settings: str) -> tuple[Service, asyncio.Task[None]]:
    """The service in this process on ``database_url``, which must be migrated already."""
    # stderr_is_tty named (its default): to mypy, a `**dict[str, str]` might hold it otherwise.
    parsed = parse_settings(
        database=database_url, port="0", poll_interval="100ms", stderr_is_tty=None, **settings
    )
    service = Service(parsed)
    task = asyncio.create_task(service.run())
    waiter = asyncio.create_task(service.lifecycle.wait_for(State.RUNNING))
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    return service, task


async def stop_service(service: Service, task: asyncio.Task[None]) -> None:
    service.lifecycle.request_abort()
    await asyncio.wait_for(task, 30)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Running]:
    service, task = await start_service(database_url)
    url = f"http://127.0.0.1:{service.port}"
    client = ApiClient(url)
    try:
        yield Running(service, client)
    finally:
        await client.close()
        await stop_service(service, task)

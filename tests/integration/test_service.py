"""The service in this process, on a real SQLite file and a real port."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from executor.errors import StartupError
from executor.lifecycle import State
from executor.service import Service
from executor.settings import Settings, parse_settings
from executor.store import create_store
from tests.support.databases import POOL_SIZE
from tests.support.waiting import async_wait_until


def settings_for(sqlite_url: str, **overrides: str) -> Settings:
    overrides.setdefault("port", "0")
    # stderr_is_tty named (its default): to mypy, a `**dict[str, str]` might hold it otherwise.
    return parse_settings(database=sqlite_url, stderr_is_tty=None, **overrides)


def state_of(service: Service) -> State:
    """The state now: read through a call, so that mypy keeps no narrowing from an earlier
    assertion on it across the awaits that change it."""
    return service.lifecycle.state


async def test_a_failed_start_stays_idle_releases_everything_and_can_be_retried(sqlite_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = settings_for(sqlite_url, port=str(taken.getsockname()[1]))
        service = Service(settings)
        with pytest.raises(StartupError, match="cannot listen"):
            await service.run()
        assert service.lifecycle.state is State.IDLE
    async with create_store(settings.database, pool_size=POOL_SIZE) as store:
        assert await store.list_instances() == [], "a failed start leaves no registry row"
    # The port is free now: the same service object starts.
    task = asyncio.create_task(service.run())
    await service.lifecycle.wait_for(State.RUNNING)
    service.lifecycle.request_stop()
    await asyncio.wait_for(task, 10)
    assert state_of(service) is State.STOPPED


async def test_a_stopped_service_cannot_be_started_again(sqlite_url: str) -> None:
    service = Service(settings_for(sqlite_url))
    task = asyncio.create_task(service.run())
    await service.lifecycle.wait_for(State.RUNNING)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
        assert (await client.get("/health")).json() == {"state": "running"}
    service.lifecycle.request_stop()
    await asyncio.wait_for(task, 10)
    with pytest.raises(StartupError, match="stopped"):
        await service.run()


async def test_draining_keeps_health_up_until_the_delay_is_over(sqlite_url: str) -> None:
    service = Service(settings_for(sqlite_url, drain_delay="30s"))
    task = asyncio.create_task(service.run())
    await service.lifecycle.wait_for(State.RUNNING)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
        service.lifecycle.request_stop()
        await service.lifecycle.wait_for(State.DRAINING)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503 and ready.json() == {"state": "draining"}
        assert (await client.get("/health/live")).status_code == 200
        service.lifecycle.request_abort()
        await asyncio.wait_for(task, 10)
    await async_wait_until(lambda: service.lifecycle.state is State.STOPPED)

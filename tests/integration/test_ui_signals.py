"""The dashboard names the signals a run takes now: each name of a `wait` on a choice, and
the two a for_each fed by signals collects (over real HTTP, without a browser)."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import start_service, stop_service
from tests.support.waiting import async_wait_until

TAKERS = """
name: takers
steps:
  - {id: decide, action: wait, with: {signal: [approve, reject]}}
  - {id: each, action: noop, for_each: {signal: line, until: done}}
"""


@pytest.fixture
async def ui(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    service, task = await start_service(database_url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=30) as client:
            yield client
    finally:
        await stop_service(service, task)


async def test_the_run_and_step_pages_name_every_signal_taken_now(ui: httpx.AsyncClient) -> None:
    pushed = await ui.post(
        "/workflows", content=TAKERS.encode(), headers={"Content-Type": "application/yaml"}
    )
    assert pushed.status_code in (200, 201), pushed.text
    run_id: str = (await ui.post("/runs", json={"workflow": "takers"})).json()["id"]

    async def both_take() -> bool:
        steps = {s["id"]: s["status"] for s in (await ui.get(f"/runs/{run_id}")).json()["steps"]}
        return steps == {"decide": "waiting", "each": "running"}

    await async_wait_until(both_take, what="decide waiting and each collecting")
    page = html.unescape((await ui.get(f"/ui/runs/{run_id}")).text)
    assert "(waited for now: approve, done, line, reject)" in page
    decide = html.unescape((await ui.get(f"/ui/runs/{run_id}/steps/decide")).text)
    assert "Takes the signals <code>approve, reject</code>" in decide
    each = html.unescape((await ui.get(f"/ui/runs/{run_id}/steps/each")).text)
    assert "Takes the signals <code>line, done</code>" in each

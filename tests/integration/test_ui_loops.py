"""A repeated step over real HTTP: the API's history names each entry's iteration and child
run, and the step's page shows them."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import start_service, stop_service
from tests.support.waiting import async_wait_until

CHILD = """
name: probe
inputs: {type: object, properties: {n: {type: integer}}}
steps:
  - {id: look, action: noop, with: {output: "{{ inputs.n }}"}}
outputs: {n: "{{ steps.look.output }}"}
"""

PARENT = """
name: probe_until
steps:
  - id: probe
    action: workflow
    with: {name: probe, input: {n: "{{ loop.index }}"}}
    repeat: {until: "{{ result.n >= 1 }}", max: 3}
"""


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    service, task = await start_service(database_url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=30) as client:
            yield client
    finally:
        await stop_service(service, task)


async def test_a_repeated_step_shows_its_iterations_and_child_runs(api: httpx.AsyncClient) -> None:
    for source in (CHILD, PARENT):
        pushed = await api.post(
            "/workflows", content=source.encode(), headers={"Content-Type": "application/yaml"}
        )
        assert pushed.status_code in (200, 201), pushed.text
    run_id = (await api.post("/runs", json={"workflow": "probe_until"})).json()["id"]

    async def finished() -> bool:
        return bool((await api.get(f"/runs/{run_id}")).json()["status"] == "succeeded")

    await async_wait_until(finished, what="the run to succeed")
    (step,) = (await api.get(f"/runs/{run_id}")).json()["steps"]
    assert step["output"] == {"n": 1}
    history = step["history"]
    assert [(entry.get("iteration"), entry["outcome"]) for entry in history] == [
        (None, "succeeded"),
        (1, "succeeded"),
    ]
    children = [entry["child_run_id"] for entry in history]
    assert len(set(children)) == 2
    page = html.unescape((await api.get(f"/ui/runs/{run_id}/steps/probe")).text)
    assert "iteration 1" in page
    for child in children:
        assert f'href="/ui/runs/{child}"' in page

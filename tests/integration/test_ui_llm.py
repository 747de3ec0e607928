"""The run page shows what a run's calls to models spent, and nothing of the kind for a run
that made none (a real service, its `llm` steps calling a fake OpenAI-compatible server)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from executor.actions import llm
from tests.api.conftest import start_service, stop_service
from tests.support.fake_llm import FakeLlm, completion
from tests.support.waiting import async_wait_until

FLOW = """
name: talker
steps:
  - id: ask
    action: llm
    with: {model: ui-model, prompt: "{{ inputs.q }}"}
"""


@pytest.fixture
async def ui(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    prices = tmp_path / "prices.yaml"
    prices.write_text("ui-model: {input: 10, output: 30}\n")
    reply = completion("hi", model="ui-model", input_tokens=1200, output_tokens=300, cached_tokens=200)
    with FakeLlm(default=reply) as fake:
        service, task = await start_service(database_url, llm_base_url=fake.url, llm_prices=str(prices))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=30) as client:
                yield client
        finally:
            await stop_service(service, task)
            llm.prepare()


async def finished_run(ui: httpx.AsyncClient, text: str, workflow: str) -> str:
    pushed = await ui.post("/workflows", content=text.encode(), headers={"Content-Type": "application/yaml"})
    assert pushed.status_code in (200, 201), pushed.text
    run_id: str = (await ui.post("/runs", json={"workflow": workflow, "input": {"q": "x"}})).json()["id"]

    async def done() -> bool:
        return bool((await ui.get(f"/runs/{run_id}")).json()["status"] == "succeeded")

    await async_wait_until(done, what=f"run {run_id} to succeed")
    return run_id


def fact(page: str, name: str) -> str:
    match = re.search(rf'<dd data-llm="{name}">(.*?)</dd>', page, re.S)
    assert match is not None, f"no {name} on the page"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


async def test_the_run_page_shows_the_runs_calls_to_models(ui: httpx.AsyncClient) -> None:
    run_id = await finished_run(ui, FLOW, "talker")
    page = (await ui.get(f"/ui/runs/{run_id}")).text
    assert "<h2>Model calls</h2>" in page
    assert fact(page, "calls") == "1"
    assert fact(page, "input_tokens") == "1200 (200 cached)"
    assert fact(page, "output_tokens") == "300"
    assert fact(page, "cost_usd") == "$0.0210"  # 1200 input at $10/M + 300 output at $30/M
    assert f'href="/runs/{run_id}/llm-calls"' in page


async def test_a_run_without_calls_shows_none(ui: httpx.AsyncClient) -> None:
    run_id = await finished_run(ui, "name: quiet\nsteps:\n  - {id: a, action: noop}\n", "quiet")
    page = (await ui.get(f"/ui/runs/{run_id}")).text
    assert 'id="run-live"' in page and "Model calls" not in page

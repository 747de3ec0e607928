"""What `llm` steps spent, over HTTP: a run's totals (`GET /runs/{id}`), its calls
(`GET /runs/{id}/llm-calls`) and the metrics, from a real service started with
`--llm-base-url` and `--llm-prices` against a fake OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from executor.actions import llm
from tests.api.conftest import Running, start_service, stop_service
from tests.support.api import ApiClient
from tests.support.fake_llm import FakeLlm, completion, error
from tests.support.scrape import Scrape
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
ASKER = """
name: asker
steps:
  - id: ask
    action: llm
    retry: {max_attempts: 2, delay: 10ms}
    with: {model: api-model, prompt: "Say hi"}
  - id: each
    action: llm
    needs: ask
    for_each: [1, 2]
    with: {model: unpriced-model, prompt: "{{ item }}"}
"""
QUIET = """
name: quiet
steps:
  - {id: a, action: noop}
"""
# 1000 input tokens at $3/M, 500 output tokens at $12/M: $0.009.
CALL = completion("hi", model="api-model", input_tokens=1000, output_tokens=500, cached_tokens=200)


@pytest.fixture
def server() -> Iterator[FakeLlm]:
    with FakeLlm(
        error(500, "try again"), CALL, default=completion("n", input_tokens=7, output_tokens=1)
    ) as fake:
        yield fake


@pytest.fixture
async def api(database_url: str, server: FakeLlm, tmp_path: Path) -> AsyncIterator[Running]:
    prices = tmp_path / "prices.yaml"
    prices.write_text("api-model: {input: 3, output: 12}\n")
    service, task = await start_service(database_url, llm_base_url=server.url, llm_prices=str(prices))
    client = ApiClient(f"http://127.0.0.1:{service.port}")
    try:
        yield Running(service, client)
    finally:
        await client.close()
        await stop_service(service, task)
        llm.prepare()  # the defaults again, for the tests after this one in this process


async def finished(api: Running, workflow: str, text: str) -> dict[str, Any]:
    assert (await api.client.post("/workflows", content=text, headers=YAML)).status_code in (200, 201)
    created = await api.client.post("/runs", json={"workflow": workflow})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]

    async def final() -> dict[str, Any] | None:
        run: dict[str, Any] = (await api.client.get(f"/runs/{run_id}")).json()
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    return await async_wait_until(final, timeout=30, what=f"run {run_id} to end")


async def scrape(api: Running) -> Scrape:
    answer = await api.client.get("/metrics")
    assert answer.status_code == 200
    return Scrape.parse(answer.text)


async def test_a_run_shows_its_totals_and_lists_its_calls(api: Running, server: FakeLlm) -> None:
    before = await scrape(api)
    run = await finished(api, "asker", ASKER)
    assert run["status"] == "succeeded", run["error"]
    assert server.requests[0].path == "/v1/chat/completions", "the --llm-base-url server"
    assert run["llm"] == {
        "calls": 4,
        "input_tokens": 1014,
        "output_tokens": 502,
        "cached_tokens": 200,
        "reasoning_tokens": 0,
        "cost_usd": 0.009,  # 800 input at $3/M + 200 cached at $3/M + 500 output at $12/M
    }
    listed = await api.client.get(f"/runs/{run['id']}/llm-calls")
    assert listed.status_code == 200
    calls = listed.json()["calls"]
    assert [(c["step"], c["item"], c["attempt"], c["outcome"]) for c in calls[:2]] == [
        ("ask", None, 1, "failed"),
        ("ask", None, 2, "succeeded"),
    ]
    assert sorted(c["item"] for c in calls[2:]) == [0, 1]
    assert "answered 500: try again" in calls[0]["error"] and calls[0]["cost_usd"] is None
    assert (calls[1]["model"], calls[1]["cost_usd"], calls[1]["input_tokens"]) == ("api-model", 0.009, 1000)
    assert calls[1]["seconds"] > 0 and calls[1]["time"].endswith("Z")
    assert [c["cost_usd"] for c in calls[2:]] == [None, None]
    assert listed.json()["next"] == calls[-1]["id"]
    page = (await api.client.get(f"/runs/{run['id']}/llm-calls?after={calls[0]['id']}&limit=1")).json()
    assert [c["id"] for c in page["calls"]] == [calls[1]["id"]] and page["next"] == calls[1]["id"]
    after = await scrape(api)

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("executor_llm_tokens_total", model="api-model", type="input") == 1000
    assert grew("executor_llm_tokens_total", model="api-model", type="output") == 500
    assert grew("executor_llm_tokens_total", model="api-model", type="cached") == 200
    assert grew("executor_llm_tokens_total", model="unpriced-model", type="input") == 14
    assert grew("executor_llm_cost_usd_total", model="api-model") == pytest.approx(0.009)
    assert not after.has("executor_llm_cost_usd_total", model="unpriced-model")
    assert after.types["executor_llm_tokens"] == "counter"


async def test_totals_are_zeros_without_calls_and_the_list_of_runs_has_none(api: Running) -> None:
    run = await finished(api, "quiet", QUIET)
    assert run["llm"] == {
        "calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "cost_usd": 0.0,
    }
    assert (await api.client.get(f"/runs/{run['id']}/llm-calls")).json() == {"calls": [], "next": 0}
    listed = (await api.client.get("/runs")).json()["runs"]
    assert listed and all("llm" not in entry for entry in listed), "GET /runs reads no calls"


async def test_llm_calls_of_an_unknown_run_or_a_bad_page(api: Running) -> None:
    missing = await api.client.get("/runs/00000000-0000-4000-8000-000000000000/llm-calls")
    assert missing.status_code == 404
    assert (await api.client.get("/runs/not-a-run/llm-calls")).status_code == 404
    run = await finished(api, "quiet", QUIET)
    bad = await api.client.get(f"/runs/{run['id']}/llm-calls?after=-1")
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["path"] == "after"
    assert (await api.client.get(f"/runs/{run['id']}/llm-calls?limit=0")).status_code == 422

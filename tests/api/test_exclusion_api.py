"""What a run and its steps hold and wait for under keys of mutual exclusion, over HTTP:
`holds` and `waiting_for` (key, limit, place in line, holders) on GET /runs/{id}."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Running
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
FLOWS = (
    """
name: post
steps:
  - {id: post, action: wait, mutex: ledger, with: {signal: go}}
""",
    """
name: deploy
inputs: {type: object, properties: {env: {type: string}}}
concurrency: {key: "deploy-{{ inputs.env }}"}
steps:
  - {id: ship, action: wait, with: {signal: go}}
""",
)


async def test_a_run_shows_what_it_holds_and_what_it_waits_for(api: Running) -> None:
    client = api.client
    for flow in FLOWS:
        assert (await client.post("/workflows", content=flow, headers=YAML)).status_code == 201

    async def start(workflow: str, run_input: Any = None) -> str:
        response = await client.post("/runs", json={"workflow": workflow, "input": run_input or {}})
        assert response.status_code == 201, response.text
        run_id: str = response.json()["id"]
        return run_id

    async def run(run_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = (await client.get(f"/runs/{run_id}")).json()
        return answer

    holder = await start("post")
    waiter = await start("post")

    async def steps_waiting() -> bool:
        step = (await run(waiter))["steps"][0]
        return "waiting_for" in step and (await run(holder))["steps"][0]["status"] == "waiting"

    await async_wait_until(steps_waiting, what="the second post to wait in line")
    assert (await run(holder))["holds"] == [{"key": "ledger", "step": "post"}]
    answer = await run(waiter)
    assert answer["holds"] == [] and "waiting_for" not in answer
    waiting = answer["steps"][0]["waiting_for"]
    assert {k: v for k, v in waiting.items() if k != "since"} == {
        "kind": "mutex",
        "key": "ledger",
        "limit": 1,
        "position": 1,
        "holders": [{"run_id": holder, "step": "post"}],
    }

    first = await start("deploy", {"env": "prod"})
    second = await start("deploy", {"env": "prod"})
    answer = await run(second)
    assert answer["status"] == "pending" and answer["waiting_for"]["kind"] == "concurrency"
    assert answer["waiting_for"]["key"] == "deploy-prod" and answer["waiting_for"]["position"] == 1
    assert answer["waiting_for"]["holders"] == [{"run_id": first, "step": None}]
    assert (await run(first))["holds"] == [{"key": "deploy-prod", "step": None}]

    assert (await client.post(f"/runs/{holder}/signals/go", json={})).status_code == 202

    async def let_in() -> bool:
        return "waiting_for" not in (await run(waiter))["steps"][0]

    await async_wait_until(let_in, what="the waiter to be let in")
    assert (await run(holder)).get("holds") is None, "a finished run holds nothing (and says nothing)"


async def test_a_limit_beyond_the_store_is_refused_naming_the_field(api: Running) -> None:
    huge = 99999999999999999999999
    semaphore = "{key: g, limit: " + str(huge) + "}"
    per_item = "{key: '{{ item }}', limit: 2}"
    cases = [  # (workflow, the field's path, its line)
        (
            f"name: c\nconcurrency: {{key: k, limit: {huge}}}\nsteps: [{{id: a, action: noop}}]\n",
            "concurrency.limit",
            2,
        ),
        (
            f"name: s\nsteps:\n  - {{id: a, action: noop, semaphore: {semaphore}}}\n",
            "steps[0].semaphore.limit",
            3,
        ),
        (
            f"name: i\nsteps:\n  - {{id: a, action: noop, for_each: [1], semaphore: {per_item}}}\n",
            "steps[0].semaphore.key",
            3,
        ),
    ]
    for flow, path, line in cases:
        response = await api.client.post("/workflows", content=flow, headers=YAML)
        assert response.status_code == 422, response.text
        details = response.json()["error"]["details"]
        assert any(d["path"] == path and d["line"] == line for d in details), details
    assert (await api.client.get("/workflows")).json() == {"workflows": []}

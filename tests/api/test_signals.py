"""Signals over HTTP to a real service: a choice between signals, items that arrive as
signals, and a signal sent again with its idempotency key counted once (across instances)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Running, start_service, stop_service
from tests.support.api import ApiClient
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
CHOICE = """
name: choice
steps:
  - {id: decide, action: wait, with: {signal: [approve, reject]}}
outputs:
  verdict: "{{ steps.decide.output.signal }}"
  by: "{{ steps.decide.output.payload.by }}"
"""
LINES = """
name: lines
steps:
  - id: each
    for_each: {signal: line, until: done}
    concurrency: 2
    action: noop
    with: {output: "{{ item }}"}
outputs:
  lines: "{{ steps.each.output }}"
"""


async def start(client: ApiClient, text: str, name: str) -> str:
    registered = await client.post("/workflows", content=text, headers=YAML)
    assert registered.status_code in (200, 201), registered.text
    started = await client.post("/runs", json={"workflow": name})
    assert started.status_code == 201, started.text
    run_id: str = started.json()["id"]
    return run_id


async def step_status(client: ApiClient, run_id: str, step: str) -> str:
    run = (await client.get(f"/runs/{run_id}")).json()
    status: str = next(s["status"] for s in run["steps"] if s["id"] == step)
    return status


async def finished(client: ApiClient, run_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        run: dict[str, Any] = (await client.get(f"/runs/{run_id}")).json()
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    return await async_wait_until(done, timeout=20, what=f"run {run_id} finished")


async def test_the_first_of_two_signals_decides(api: Running) -> None:
    run_id = await start(api.client, CHOICE, "choice")
    await async_wait_until(lambda: _waiting(api.client, run_id, "decide"))
    sent = await api.client.post(f"/runs/{run_id}/signals/reject", json={"payload": {"by": "bob"}})
    assert (sent.status_code, sent.json()) == (202, {"run": run_id, "signal": "reject", "delivered": True})
    run = await finished(api.client, run_id)
    assert run["status"] == "succeeded" and run["outputs"] == {"verdict": "reject", "by": "bob"}
    late = await api.client.post(f"/runs/{run_id}/signals/approve", json={})
    assert late.status_code == 409


async def _waiting(client: ApiClient, run_id: str, step: str) -> bool:
    return await step_status(client, run_id, step) == "waiting"


async def _running(client: ApiClient, run_id: str, step: str) -> bool:
    return await step_status(client, run_id, step) == "running"


async def test_a_signal_sent_again_with_its_key_is_one_signal(api: Running) -> None:
    run_id = await start(api.client, LINES, "lines")
    await async_wait_until(lambda: _running(api.client, run_id, "each"))
    for n in range(3):
        for _ in range(2):  # a client retrying after a lost answer
            body = {"payload": n, "idempotency_key": f"line-{n}"}
            sent = await api.client.post(f"/runs/{run_id}/signals/line", json=body)
            assert (sent.status_code, sent.json()["delivered"]) == (202, True)
    running = (await api.client.get(f"/runs/{run_id}")).json()
    [each] = [s for s in running["steps"] if s["id"] == "each"]
    assert each["status"] == "running" and [i["index"] for i in each["items"]] == [0, 1, 2]
    same_key_other_name = {"idempotency_key": "line-0"}
    assert (
        await api.client.post(f"/runs/{run_id}/signals/done", json=same_key_other_name)
    ).status_code == 202
    run = await finished(api.client, run_id)
    assert run["status"] == "succeeded" and run["outputs"] == {"lines": [0, 1, 2]}
    again = await api.client.post(f"/runs/{run_id}/signals/done", json=same_key_other_name)
    assert (again.status_code, again.json()["delivered"]) == (202, True), "the answer to the first sending"


async def test_a_key_that_is_not_a_string_is_refused_naming_it(api: Running) -> None:
    run_id = await start(api.client, CHOICE, "choice")
    for key in ("", 7, "x" * 201):
        refused = await api.client.post(f"/runs/{run_id}/signals/approve", json={"idempotency_key": key})
        assert refused.status_code == 422, refused.text
        assert "idempotency_key" in refused.text


async def test_lines_sent_to_two_instances_make_one_item_each(database_url: str) -> None:
    services = [await start_service(database_url) for _ in range(2)]
    clients = [ApiClient(f"http://127.0.0.1:{service.port}") for service, _ in services]
    try:
        run_id = await start(clients[0], LINES, "lines")
        await async_wait_until(lambda: _running(clients[1], run_id, "each"))
        for n in range(10):
            for client in clients:  # each line sent to both instances, with one key
                body = {"payload": n, "idempotency_key": f"k{n}"}
                assert (await client.post(f"/runs/{run_id}/signals/line", json=body)).status_code == 202
        await clients[1].post(f"/runs/{run_id}/signals/done", json={})
        run = await finished(clients[0], run_id)
        assert run["status"] == "succeeded" and run["outputs"] == {"lines": list(range(10))}
        [each] = [s for s in run["steps"] if s["id"] == "each"]
        assert [(i["index"], i["output"]) for i in each["items"]] == [(n, n) for n in range(10)]
    finally:
        for client in clients:
            await client.close()
        for service, task in services:
            await stop_service(service, task)

"""A for_each fed by signals survives SIGKILL: items kept, none doubled by a retried request."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.process import Server, clean_env, run
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

LINES = """
name: lines
steps:
  - id: each
    for_each: {signal: line, until: done}
    concurrency: 2
    action: shell
    with: {command: "sleep 0.3; echo {{ item }}"}
    outputs: {n: "{{ result.stdout | trim | int }}"}
outputs:
  got: "{{ steps.each.output | map(attribute='n') | list }}"
"""


def serve(executor: list[str], workdir: Path, servers: list[Server]) -> Server:
    server = Server(
        executor, workdir, ["--poll-interval", "100ms", "--lease", "2s", "--skip-migrations"], clean_env()
    )
    servers.append(server)
    return server.start(new_session=True).wait_running()


def send(server: Server, run_id: str, name: str, body: dict[str, Any]) -> None:
    answer = httpx.post(f"{server.url}/runs/{run_id}/signals/{name}", json=body, timeout=10)
    assert answer.status_code == 202, answer.text


def get(server: Server, run_id: str) -> dict[str, Any]:
    run_doc: dict[str, Any] = server.get(f"/runs/{run_id}").json()
    return run_doc


def test_items_survive_a_kill_and_resent_signals_are_not_doubled(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    assert run(executor, "migrate", cwd=workdir).returncode == 0
    server = serve(executor, workdir, servers)
    registered = httpx.post(
        f"{server.url}/workflows", content=LINES, headers={"content-type": "application/yaml"}
    )
    assert registered.status_code in (200, 201), registered.text
    run_id = httpx.post(f"{server.url}/runs", json={"workflow": "lines"}).json()["id"]
    for n in range(5):
        send(server, run_id, "line", {"payload": n, "idempotency_key": f"line-{n}"})

    def an_item_running() -> bool:
        [each] = get(server, run_id)["steps"]
        return any(item["status"] == "running" for item in each.get("items", []))

    wait_until(an_item_running, what="an item running")
    assert server.process is not None
    os.killpg(server.process.pid, signal.SIGKILL)
    server.wait_exit(10)

    server = serve(executor, workdir, servers)
    for n in range(3, 8):  # 3 and 4 again: the client never saw their answers, say
        send(server, run_id, "line", {"payload": n, "idempotency_key": f"line-{n}"})
    send(server, run_id, "done", {})
    wait_until(lambda: get(server, run_id)["status"] == "succeeded", timeout=60, what="the run to succeed")
    finished = get(server, run_id)
    assert finished["outputs"] == {"got": list(range(8))}
    [each] = finished["steps"]
    assert [item["index"] for item in each["items"]] == list(range(8)), "one item per signal"
    server.signal()
    assert server.wait_exit(30) == 0

"""A failed run says what it knows: its outputs over HTTP; finally steps as steps of the run."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Running
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
PARTIAL = """
name: partial
steps:
  - {id: build, action: noop, with: {output: {version: "1.2"}}}
  - {id: ship, action: shell, needs: [build], with: {command: "exit 5"}}
outputs:
  version: "{{ steps.build.output.version }}"
  url: "{{ steps.ship.output.url }}"
finally:
  - {id: report, action: noop, with: {output: "{{ run.status }}"}}
"""


async def test_a_failed_run_shows_its_outputs_and_finally_steps(api: Running) -> None:
    registered = await api.client.post("/workflows", content=PARTIAL, headers=YAML)
    assert registered.status_code in (200, 201), registered.text
    started = await api.client.post("/runs", json={"workflow": "partial"})
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]

    async def final() -> bool:
        return (await _run(api, run_id))["status"] in ("succeeded", "failed", "cancelled")

    await async_wait_until(final)
    run = await _run(api, run_id)
    assert run["status"] == "failed"
    assert run["outputs"] == {"version": "1.2"}
    assert run["error"].split("\n")[0] == "step ship failed: command failed (exit code 5)"
    assert run["error"].split("\n")[1].startswith("outputs.url: ")
    report = next(step for step in run["steps"] if step["id"] == "report")
    assert (report["status"], report["output"]) == ("succeeded", "failed")


async def _run(api: Running, run_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/runs/{run_id}")
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run

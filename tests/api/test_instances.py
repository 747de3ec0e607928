"""GET /instances: the instances registered on the database, their heartbeats, and the steps
each runs now."""

from __future__ import annotations

import os
import socket
from typing import Any

from executor import __version__
from tests.api.conftest import Running
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
# Long enough to be seen running; cancelled by the test.
SLEEPER = "name: sleeper\nsteps:\n  - {id: nap, action: shell, with: {command: 'sleep 60'}}\n"


async def instances(api: Running) -> list[dict[str, Any]]:
    response = await api.client.get("/instances")
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["instances"]
    return found


async def test_the_running_instance_shows_the_steps_it_runs(api: Running) -> None:
    [me] = await instances(api)
    assert api.service.engine is not None and me["id"] == api.service.engine.instance_id
    assert (me["host"], me["pid"], me["version"], me["state"]) == (
        socket.gethostname(),
        os.getpid(),
        __version__,
        "running",
    )
    assert me["heartbeat_timeout"] == 10.0
    assert 0 <= me["heartbeat_age_seconds"] < me["heartbeat_timeout"]
    assert me["started_at"] <= me["heartbeat_at"] and me["steps_in_flight"] == 0

    await api.client.post("/workflows", content=SLEEPER, headers=YAML)
    runs = [(await api.client.post("/runs", json={"workflow": "sleeper"})).json() for _ in range(2)]

    async def in_flight(wanted: int) -> bool:
        return [i["steps_in_flight"] for i in await instances(api)] == [wanted]

    await async_wait_until(lambda: in_flight(2), what="both sleeps running")
    for run in runs:
        assert (await api.client.post(f"/runs/{run['id']}/cancel")).status_code == 202
    await async_wait_until(lambda: in_flight(0), what="no step left running")

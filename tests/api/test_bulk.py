"""POST /runs/bulk/cancel and /runs/bulk/retry: dry runs count, real ones act on every run the
filter selects (and only those the action applies to, created before the request)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from executor.engine import bulk as bulk_actions
from executor.lifecycle import State
from tests.api.conftest import Running, start_service, stop_service
from tests.support.api import ApiClient
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
WAITER = "name: waiter\nsteps:\n  - {id: w, action: wait, with: {signal: go}}\n"
QUICK = "name: quick\nsteps:\n  - {id: a, action: noop}\n"


def sleeper(pids: Path) -> str:
    """Each run's step writes its process id, then sleeps (as that process) for a minute."""
    command = f"echo $$ >> {pids}; exec sleep 60"
    return f"name: sleeper\nsteps:\n  - {{id: nap, action: shell, with: {{command: '{command}'}}}}\n"


async def register(api: Running, *texts: str) -> None:
    for text in texts:
        response = await api.client.post("/workflows", content=text, headers=YAML)
        assert response.status_code in (200, 201), response.text


async def start(api: Running, workflow: str) -> str:
    response = await api.client.post("/runs", json={"workflow": workflow})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


async def status(api: Running, run_id: str) -> str:
    value: str = (await api.client.get(f"/runs/{run_id}")).json()["status"]
    return value


async def statuses(api: Running, run_ids: list[str]) -> list[str]:
    return [await status(api, run_id) for run_id in run_ids]


async def bulk(api: Running, action: str, body: Any) -> httpx.Response:
    return await api.client.post(f"/runs/bulk/{action}", json=body)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_dry_run_counts_and_a_real_cancel_stops_the_running_runs(
    api: Running, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    await register(api, sleeper(pids), WAITER, QUICK)
    finished = await start(api, "quick")
    sleepers = [await start(api, "sleeper") for _ in range(3)]
    waiter = await start(api, "waiter")
    await async_wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 3, what="three sleeps")
    await async_wait_until(lambda: _all(api, [finished], "succeeded"))

    dry = await bulk(api, "cancel", {"filter": {"workflow": "sleeper"}, "dry_run": True})
    assert (dry.status_code, dry.json()) == (200, {"action": "cancel", "dry_run": True, "matched": 3})
    everything = await bulk(api, "cancel", {"filter": {}, "dry_run": True})
    assert everything.json()["matched"] == 4, "every unfinished run: the finished one is not"
    assert await statuses(api, [*sleepers, waiter]) == ["running"] * 4, "a dry run changes nothing"
    processes = [int(pid) for pid in pids.read_text().split()]
    assert all(alive(pid) for pid in processes)

    done = await bulk(api, "cancel", {"filter": {"workflow": "sleeper", "trigger": "api"}})
    assert done.status_code == 202
    assert done.json() == {
        "action": "cancel",
        "dry_run": False,
        "matched": 3,
        "changed": 3,
        "skipped": 0,
        "run_ids": sleepers[::-1],  # newest first
        "failed": [],
    }
    assert await statuses(api, sleepers) == ["cancelled"] * 3
    steps = [(await api.client.get(f"/runs/{run}")).json()["steps"][0]["status"] for run in sleepers]
    assert steps == ["cancelled"] * 3
    await async_wait_until(lambda: not any(alive(pid) for pid in processes), what="the sleeps killed")
    assert await statuses(api, [waiter, finished]) == ["running", "succeeded"], "others untouched"
    again = await bulk(api, "cancel", {"filter": {"workflow": "sleeper"}})
    assert (again.json()["matched"], again.json()["changed"], again.json()["run_ids"]) == (0, 0, [])


async def _all(api: Running, run_ids: list[str], wanted: str) -> bool:
    return await statuses(api, run_ids) == [wanted] * len(run_ids)


async def test_runs_created_while_a_bulk_cancel_works_are_not_swept_in(
    api: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_actions, "PAGE", 10)  # 35 runs: four pages
    await register(api, WAITER)
    earlier = [await start(api, "waiter") for _ in range(35)]
    # The first cancel waits until runs were created after the request began (and after
    # its first page was read); then the request goes on, page after page.
    engine = api.service.engine
    assert engine is not None
    cancel, began, go = engine.cancel, asyncio.Event(), asyncio.Event()

    async def cancel_once_runs_arrived(run_id: str) -> None:
        began.set()
        await go.wait()
        await cancel(run_id)

    monkeypatch.setattr(engine, "cancel", cancel_once_runs_arrived)
    answer = asyncio.create_task(bulk(api, "cancel", {"filter": {"workflow": "waiter"}}))
    await asyncio.wait_for(began.wait(), 10)
    later = [await start(api, "waiter") for _ in range(5)]
    go.set()
    result = (await answer).json()
    assert (result["matched"], result["changed"], result["skipped"], result["failed"]) == (35, 35, 0, [])
    assert result["run_ids"] == earlier[::-1]
    assert await statuses(api, earlier) == ["cancelled"] * 35
    assert "cancelled" not in await statuses(api, later)


async def test_retry_takes_failed_runs_only(api: Running, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    fragile = f"name: fragile\nsteps:\n  - {{id: a, action: shell, with: {{command: 'test -e {flag}'}}}}\n"
    await register(api, fragile, WAITER)
    failed = [await start(api, "fragile") for _ in range(2)]
    cancelled = await start(api, "waiter")
    assert (await api.client.post(f"/runs/{cancelled}/cancel")).status_code == 202
    await async_wait_until(lambda: _all(api, failed, "failed"))

    dry = await bulk(api, "retry", {"filter": {"status": "failed"}, "dry_run": True})
    assert (dry.status_code, dry.json()) == (200, {"action": "retry", "dry_run": True, "matched": 2})
    flag.touch()
    done = await bulk(api, "retry", {"filter": {"workflow": None, "since": "2000-01-01T00:00:00Z"}})
    assert done.status_code == 202
    assert (done.json()["matched"], done.json()["changed"]) == (2, 2)
    assert set(done.json()["run_ids"]) == set(failed)
    await async_wait_until(lambda: _all(api, failed, "succeeded"))
    assert await status(api, cancelled) == "cancelled", "a cancelled run is not retried"


async def test_a_status_the_action_does_not_apply_to_is_refused(api: Running) -> None:
    for action, wrong in (
        ("cancel", "succeeded"),
        ("cancel", "failed"),
        ("retry", "cancelled"),
        ("retry", "running"),
    ):
        response = await bulk(api, action, {"filter": {"status": wrong}, "dry_run": True})
        assert response.status_code == 422, (action, wrong)
        assert [d["path"] for d in response.json()["error"]["details"]] == ["$.filter.status"]


async def test_bad_bodies_are_refused_naming_the_field(api: Running) -> None:
    for body, path in (
        ({}, "$"),
        ([1], "$"),
        ({"filter": {"since": "yesterday"}}, "$.filter.since"),
        ({"filter": {"until": "2026-12-01T10:00:00"}}, "$.filter.until"),
        ({"filter": {"trigger": "cron"}}, "$.filter.trigger"),
        ({"filter": {"workflow": ""}}, "$.filter.workflow"),
        ({"filter": {"parent": "x" * 65}}, "$.filter.parent"),
        ({"filter": {}, "dry_run": "yes"}, "$.dry_run"),
        ({"filter": {"colour": "red"}}, "$.filter"),
        ({"filter": [], "extra": 1}, "$"),
    ):
        for action in ("cancel", "retry"):
            response = await bulk(api, action, body)
            assert response.status_code == 422, (action, body)
            paths = [d["path"] for d in response.json()["error"]["details"]]
            assert path in paths, (action, body, paths)
    malformed = await api.client.post(
        "/runs/bulk/cancel", content="{", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_body"
    text = await api.client.post("/runs/bulk/cancel", content="{}", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert (await api.client.get("/runs/bulk/cancel")).status_code == 405


async def test_while_draining_a_bulk_retry_is_refused_but_its_dry_run_and_a_cancel_are_not(
    database_url: str,
) -> None:
    service, task = await start_service(database_url, drain_delay="1h")
    client = ApiClient(f"http://127.0.0.1:{service.port}")
    try:
        await client.post("/workflows", content=WAITER, headers=YAML)
        run = (await client.post("/runs", json={"workflow": "waiter"})).json()
        service.lifecycle.request_stop()
        await service.lifecycle.wait_for(State.DRAINING)
        refused = await client.post("/runs/bulk/retry", json={"filter": {}})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert refused.json()["error"]["code"] == "draining"
        dry = await client.post("/runs/bulk/retry", json={"filter": {}, "dry_run": True})
        assert (dry.status_code, dry.json()["matched"]) == (200, 0)
        cancelled = await client.post("/runs/bulk/cancel", json={"filter": {}})
        assert (cancelled.status_code, cancelled.json()["run_ids"]) == (202, [run["id"]])
    finally:
        await client.close()
        await stop_service(service, task)

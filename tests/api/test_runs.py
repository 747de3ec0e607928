"""Runs over HTTP: start, read, list and count with filters and cursors, act, signal,
trigger, logs."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.api.conftest import Running
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
WAITER = """
name: waiter
inputs: {type: object, properties: {n: {type: integer, default: 1}}}
steps:
  - {id: approve, action: wait, with: {signal: approve}}
  - {id: done, action: noop, needs: [approve], with: {output: "{{ steps.approve.output }}"}}
outputs:
  got: "{{ steps.done.output }}"
"""


async def register(api: Running, text: str = WAITER) -> None:
    response = await api.client.post("/workflows", content=text, headers=YAML)
    assert response.status_code in (200, 201), response.text


async def start(api: Running, **body: object) -> dict[str, Any]:
    response = await api.client.post("/runs", json={"workflow": "waiter", **body})
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


async def status(api: Running, run_id: str, step: str | None = None) -> str:
    run = (await api.client.get(f"/runs/{run_id}")).json()
    if step is None:
        of_run: str = run["status"]
        return of_run
    of_step: str = next(s["status"] for s in run["steps"] if s["id"] == step)
    return of_step


async def test_start_signal_finish(api: Running) -> None:
    await register(api)
    run = await start(api, input={"n": 3})
    assert run["status"] == "pending" and run["input"] == {"n": 3}
    await async_wait_until(lambda: _is(api, run["id"], "approve", "waiting"))
    signal = await api.client.post(f"/runs/{run['id']}/signals/approve", json={"payload": {"by": "ana"}})
    assert (signal.status_code, signal.json()["delivered"]) == (202, True)
    await async_wait_until(lambda: _run_is(api, run["id"], "succeeded"))
    done = (await api.client.get(f"/runs/{run['id']}")).json()
    assert done["outputs"] == {"got": {"by": "ana"}}
    assert [s["id"] for s in done["steps"]] == ["approve", "done"]
    assert done["steps"][0]["attempts"] == 1 and done["started_at"] and done["finished_at"]


async def test_idempotency_key_gives_the_same_run(api: Running) -> None:
    await register(api)
    first = await start(api, idempotency_key="deploy-42")
    again = await api.client.post("/runs", json={"workflow": "waiter", "idempotency_key": "deploy-42"})
    assert again.status_code == 200 and again.json()["id"] == first["id"]


async def test_unknown_workflow_version_and_bad_input(api: Running) -> None:
    await register(api)
    assert (await api.client.post("/runs", json={"workflow": "nope"})).status_code == 404
    assert (await api.client.post("/runs", json={"workflow": "waiter", "version": 7})).status_code == 404
    bad = await api.client.post("/runs", json={"workflow": "waiter", "input": {"n": "three"}})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["path"] == "$.n"
    unknown = await api.client.post("/runs", json={"workflow": "waiter", "inputs": {}})
    assert unknown.status_code == 422 and "inputs" in unknown.json()["error"]["message"]
    assert (await api.client.get("/runs")).json()["runs"] == [], "no run was half-created"


async def test_list_newest_first_with_filters_and_cursor(api: Running) -> None:
    await register(api)
    await register(api, "name: other\nsteps:\n  - {id: a, action: noop}\n")
    ids = [(await start(api))["id"] for _ in range(5)]
    other = (await api.client.post("/runs", json={"workflow": "other"})).json()["id"]
    page = (await api.client.get("/runs", params={"workflow": "waiter", "limit": 2})).json()
    assert [r["id"] for r in page["runs"]] == ids[::-1][:2] and page["next_cursor"]
    seen = [r["id"] for r in page["runs"]]
    while page["next_cursor"]:
        page = (
            await api.client.get(
                "/runs", params={"workflow": "waiter", "limit": 2, "cursor": page["next_cursor"]}
            )
        ).json()
        seen += [r["id"] for r in page["runs"]]
    assert seen == ids[::-1]
    await async_wait_until(lambda: _run_is(api, other, "succeeded"))
    done = (await api.client.get("/runs", params={"status": "succeeded"})).json()["runs"]
    assert [r["id"] for r in done] == [other]
    capped = await api.client.get("/runs", params={"limit": 100000})
    assert capped.status_code == 200 and len(capped.json()["runs"]) == 6
    for bad in ({"limit": 0}, {"limit": -5}, {"limit": "x"}, {"status": "exploded"}, {"cursor": "garbage!"}):
        response = await api.client.get("/runs", params=bad)
        assert response.status_code == 422, bad


FAMILY = """
name: mom
schedules:
  - {id: yearly, cron: "0 0 1 1 *"}
steps:
  - {id: call, action: workflow, with: {name: kid}}
"""
KID = "name: kid\nsteps:\n  - {id: a, action: noop}\n"


def instant(run: dict[str, Any]) -> float:
    return datetime.fromisoformat(run["created_at"]).timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


async def listed(api: Running, **filters: str) -> list[str]:
    """The ids GET /runs lists for ``filters``; GET /runs/count must agree."""
    page = await api.client.get("/runs", params={**filters, "limit": 500})
    assert page.status_code == 200, page.text
    ids = [r["id"] for r in page.json()["runs"]]
    counted = await api.client.get("/runs/count", params=filters)
    assert (counted.status_code, counted.json()) == (200, {"count": len(ids)}), filters
    return ids


async def test_filters_by_trigger_parent_and_creation_time(api: Running) -> None:
    await register(api, KID)
    await register(api, FAMILY)
    await register(api)
    first = await start(api)
    mom = (await api.client.post("/runs", json={"workflow": "mom"})).json()
    scheduled = await api.client.post("/schedules/mom/yearly/trigger")
    assert scheduled.status_code == 201
    last = await start(api)
    kids: list[str] = []

    async def both_kids() -> bool:
        kids[:] = await listed(api, workflow="kid")
        return len(kids) == 2

    await async_wait_until(both_kids, what="a child run of each mom run")
    parents = {k: (await api.client.get(f"/runs/{k}")).json()["parent_run_id"] for k in kids}
    assert sorted(parents.values()) == sorted([mom["id"], scheduled.json()["id"]])
    mom_kid = next(k for k, parent in parents.items() if parent == mom["id"])

    assert await listed(api, trigger="parent") == kids
    assert await listed(api, trigger="schedule") == [scheduled.json()["id"]]
    assert await listed(api, trigger="api") == [last["id"], mom["id"], first["id"]]
    assert await listed(api, trigger="backfill") == []
    assert await listed(api, parent=mom["id"]) == [mom_kid]
    assert await listed(api, parent=mom["id"], trigger="api") == []
    assert await listed(api, parent="00000000-0000-0000-0000-000000000000") == []
    assert await listed(api, parent="not-a-run") == []

    # A creation time range: since includes, until excludes (boundaries between two runs).
    runs = (await api.client.get("/runs", params={"workflow": "waiter"})).json()["runs"]
    assert [r["id"] for r in runs] == [last["id"], first["id"]]
    between = iso((instant(runs[0]) + instant(runs[1])) / 2)
    assert await listed(api, workflow="waiter", since=between) == [last["id"]]
    assert await listed(api, workflow="waiter", until=between) == [first["id"]]
    assert await listed(api, since=iso(instant(runs[1]) - 1), until=between) == await listed(
        api, until=between
    )
    assert await listed(api, since=between, until=between) == []
    offset = datetime.fromisoformat(between).astimezone(datetime.now().astimezone().tzinfo)
    assert await listed(api, workflow="waiter", since=offset.isoformat()) == [last["id"]], "any offset"
    assert len(await listed(api)) == 6


async def test_paging_a_filter_is_stable_while_runs_arrive(api: Running) -> None:
    await register(api)
    made = [(await start(api))["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = {
            "workflow": "waiter",
            "trigger": "api",
            "limit": "2",
            **({"cursor": cursor} if cursor else {}),
        }
        page = (await api.client.get("/runs", params=query)).json()
        seen += [r["id"] for r in page["runs"]]
        await start(api)  # newer than every page read: never listed by this walk
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made[::-1]


async def test_bad_filters_are_422_naming_the_parameter(api: Running) -> None:
    for bad, name in (
        ({"trigger": "cron"}, "trigger"),
        ({"trigger": ""}, "trigger"),
        ({"since": "yesterday"}, "since"),
        ({"since": ""}, "since"),
        ({"until": "2026-12-01T10:00:00"}, "until"),  # no offset
        ({"until": "2026-12-01"}, "until"),
        ({"since": "2026-02-30T10:00:00Z"}, "since"),
        ({"since": "2026-12-01T10:61:00Z"}, "since"),
        ({"parent": "x" * 65}, "parent"),
        ({"parent": "a\x00b"}, "parent"),
        ({"status": "done"}, "status"),
    ):
        for path in ("/runs", "/runs/count"):
            response = await api.client.get(path, params=bad)
            assert response.status_code == 422, (path, bad)
            assert [d["path"] for d in response.json()["error"]["details"]] == [name], (path, bad)


async def test_cancel_pause_resume_retry_and_409s(api: Running) -> None:
    await register(api)
    run = await start(api)
    await async_wait_until(lambda: _is(api, run["id"], "approve", "waiting"))
    paused = await api.client.post(f"/runs/{run['id']}/pause")
    assert (paused.status_code, paused.json()["status"]) == (202, "paused")
    conflict = await api.client.post(f"/runs/{run['id']}/pause")
    assert conflict.status_code == 409 and conflict.json()["error"]["status"] == "paused"
    resumed = await api.client.post(f"/runs/{run['id']}/resume")
    assert resumed.status_code == 202 and resumed.json()["status"] in ("running", "pending")
    assert (await api.client.post(f"/runs/{run['id']}/resume")).status_code == 409
    cancelled = await api.client.post(f"/runs/{run['id']}/cancel")
    assert (cancelled.status_code, cancelled.json()["status"]) == (202, "cancelled")
    again = await api.client.post(f"/runs/{run['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["status"] == "cancelled"
    assert (await api.client.post(f"/runs/{run['id']}/retry")).status_code == 409
    late = await api.client.post(f"/runs/{run['id']}/signals/approve", json={"payload": 1})
    assert late.status_code == 409


async def test_a_paused_run_whose_last_steps_finish_stays_paused_until_resumed(
    api: Running, tmp_path: Path
) -> None:
    # Found by schemathesis: signalling the last waiting step of a paused run answered 500
    # (the run tried to go from paused to succeeded), and a last step ending while paused
    # could not be recorded.
    gate = tmp_path / "gate"
    await register(
        api,
        "name: last\nsteps:\n  - {id: w, action: wait, with: {signal: go}}\n"
        f"  - {{id: s, action: shell, with: {{command: 'while ! test -e {gate}; do sleep 0.05; done'}}}}\n",
    )
    run = (await api.client.post("/runs", json={"workflow": "last"})).json()
    await async_wait_until(lambda: _is(api, run["id"], "w", "waiting"))
    await async_wait_until(lambda: _is(api, run["id"], "s", "running"))
    assert (await api.client.post(f"/runs/{run['id']}/pause")).status_code == 202
    signal = await api.client.post(f"/runs/{run['id']}/signals/go")
    assert (signal.status_code, signal.json()["delivered"]) == (202, True)
    gate.touch()
    await async_wait_until(lambda: _is(api, run["id"], "s", "succeeded"))
    assert await status(api, run["id"]) == "paused"
    resumed = await api.client.post(f"/runs/{run['id']}/resume")
    assert (resumed.status_code, resumed.json()["status"]) == (202, "succeeded")


async def test_retry_a_failed_run(api: Running, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    await register(
        api, f"name: fragile\nsteps:\n  - {{id: a, action: shell, with: {{command: 'test -e {flag}'}}}}\n"
    )
    run = (await api.client.post("/runs", json={"workflow": "fragile"})).json()
    await async_wait_until(lambda: _run_is(api, run["id"], "failed"))
    flag.touch()
    retried = await api.client.post(f"/runs/{run['id']}/retry")
    assert retried.status_code == 202
    await async_wait_until(lambda: _run_is(api, run["id"], "succeeded"))


async def test_signals_early_twice_and_unknown_runs(api: Running) -> None:
    await register(
        api,
        """
name: twowaits
steps:
  - {id: nap, action: sleep, with: {duration: 300ms}}
  - {id: a, action: wait, needs: [nap], with: {signal: go}}
  - {id: b, action: wait, needs: [a], with: {signal: go}}
""",
    )
    run = (await api.client.post("/runs", json={"workflow": "twowaits"})).json()
    early = await api.client.post(f"/runs/{run['id']}/signals/go", json={"payload": "first"})
    assert early.status_code == 202 and early.json()["delivered"] is False
    second = await api.client.post(f"/runs/{run['id']}/signals/go")  # empty body: payload null
    assert second.status_code == 202
    await async_wait_until(lambda: _run_is(api, run["id"], "succeeded"))
    steps = {s["id"]: s for s in (await api.client.get(f"/runs/{run['id']}")).json()["steps"]}
    assert (steps["a"]["output"], steps["b"]["output"]) == ("first", None)
    for path in ("/runs/00000000-0000-0000-0000-000000000000", "/runs/not-a-uuid"):
        assert (await api.client.get(path)).status_code == 404
    missing = await api.client.post("/runs/00000000-0000-0000-0000-000000000000/signals/go", json={})
    assert missing.status_code == 404


async def test_trigger(api: Running) -> None:
    await register(api)
    run = await start(api)
    assert (await api.client.post(f"/runs/{run['id']}/trigger")).status_code == 202
    assert (await api.client.post("/runs/00000000-0000-0000-0000-000000000000/trigger")).status_code == 404


async def test_logs_and_following_them(api: Running) -> None:
    await register(
        api,
        "name: talker\nsteps:\n  - {id: talk, action: shell, with: {command: 'echo one; sleep 0.5; echo two'}}\n",
    )
    run = (await api.client.post("/runs", json={"workflow": "talker"})).json()
    async with api.client.http.stream(
        "GET", f"/runs/{run['id']}/steps/talk/logs", params={"follow": "true"}
    ) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        body = ""
        async for chunk in stream.aiter_text():
            body += chunk
    events = [block for block in body.split("\n\n") if block.strip()]
    lines = [json.loads(e.split("data: ", 1)[1])["line"] for e in events if "event: line" in e]
    assert lines == ["one", "two"]
    assert "event: end" in events[-1] and '"succeeded"' in events[-1]
    plain = await api.client.get(f"/runs/{run['id']}/steps/talk/logs")
    assert [x["line"] for x in plain.json()["lines"]] == ["one", "two"]
    after = await api.client.get(
        f"/runs/{run['id']}/steps/talk/logs", params={"after": plain.json()["lines"][0]["id"]}
    )
    assert [x["line"] for x in after.json()["lines"]] == ["two"]
    assert (await api.client.get(f"/runs/{run['id']}/steps/nope/logs")).status_code == 404


async def _is(api: Running, run_id: str, step: str, wanted: str) -> bool:
    return await status(api, run_id, step) == wanted


async def _run_is(api: Running, run_id: str, wanted: str) -> bool:
    return await status(api, run_id) == wanted


async def test_every_response_matched_the_document(api: Running) -> None:
    # The client checks each answer against /openapi.json; make sure it really served one.
    document = (await api.client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    await asyncio.sleep(0)

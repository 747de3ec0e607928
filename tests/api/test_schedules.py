"""GET /schedules and POST /schedules/{workflow}/{id}/pause|resume|trigger|backfill, and the
schedules a workflow declares, checked when it is registered."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from executor.http import schedules
from executor.http.openapi import document
from tests.api.conftest import Running
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
BERLIN = ZoneInfo("Europe/Berlin")

# Ticks far apart, so that the service's scheduler fires none of them during a test.
FLOW = """name: timed
inputs:
  type: object
  additionalProperties: false
  properties: {env: {type: string, enum: [prod, dev]}}
schedules:
  - {id: nightly, cron: "30 2 * * *", timezone: Europe/Berlin, input: {env: prod}}
  - {id: often, every: 10m, timezone: Europe/Berlin, input: {env: dev}, overlap: allow_all}
steps:
  - {id: a, action: noop, with: {output: "{{ inputs.env }}"}}
"""


def parse(text: str) -> datetime:
    """A time the API gave: UTC, in the 'Z' form."""
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


async def register(api: Running, flow: str = FLOW) -> None:
    response = await api.client.post("/workflows", content=flow, headers=YAML)
    assert response.status_code in (200, 201), response.text


async def backfill(api: Running, schedule: str, body: dict[str, Any]) -> httpx.Response:
    return await api.client.post(f"/schedules/timed/{schedule}/backfill", json=body)


async def dry_run(api: Running, schedule: str, start: str, end: str) -> httpx.Response:
    return await backfill(api, schedule, {"from": start, "to": end, "dry_run": True})


async def runs_of(api: Running) -> list[dict[str, Any]]:
    response = await api.client.get("/runs", params={"workflow": "timed", "limit": 100})
    assert response.status_code == 200
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


# -- reading ----------------------------------------------------------------------------


async def test_schedules_are_listed_with_their_next_ten_ticks_in_utc(api: Running) -> None:
    before = time.time()
    await register(api)
    await register(api, FLOW.replace("name: timed", "name: other"))
    # The scheduler computes each new schedule's first tick (at once, woken by the
    # registration): the two listings below must not straddle that.
    deadline = time.monotonic() + 10
    while True:
        listed = (await api.client.get("/schedules")).json()["schedules"]
        if all(s["next_tick"] is not None for s in listed) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert [(s["workflow"], s["id"]) for s in listed] == [
        ("other", "nightly"),
        ("other", "often"),
        ("timed", "nightly"),
        ("timed", "often"),
    ]
    only = (await api.client.get("/schedules", params={"workflow": "timed"})).json()["schedules"]
    assert only == [s for s in listed if s["workflow"] == "timed"]
    nightly, often = only
    assert {k: nightly[k] for k in ("cron", "every", "timezone", "input", "overlap", "paused")} == {
        "cron": "30 2 * * *",
        "every": None,
        "timezone": "Europe/Berlin",
        "input": {"env": "prod"},
        "overlap": "skip",
        "paused": False,
    }
    assert (nightly["fired"], nightly["missed"], nightly["skipped"], nightly["last_tick"]) == (0, 0, 0, None)
    assert (nightly["catchup_window"], nightly["jitter"], nightly["buffered"]) == (3600, 0, [])

    for found in (nightly, often):
        ticks = [parse(t) for t in found["next_ticks"]]
        assert len(ticks) == 10 and ticks == sorted(set(ticks)), found["next_ticks"]
        assert ticks[0].timestamp() > before - 1
        if found["next_tick"] is not None:  # computed by the scheduler meanwhile
            assert parse(found["next_tick"]) == ticks[0]
    # 02:30 in Berlin every day, whichever the offset (01:30Z in winter, 00:30Z in summer).
    assert {(t.hour, t.minute) for t in (parse(x).astimezone(BERLIN) for x in nightly["next_ticks"])} == {
        (2, 30)
    }
    every = [parse(t).timestamp() for t in often["next_ticks"]]
    assert all(t % 600 == 0 for t in every) and {b - a for a, b in itertools.pairwise(every)} == {600}

    one = await api.client.get("/schedules/timed/often")
    assert one.status_code == 200 and one.json()["id"] == "often" and one.json()["every"] == 600


async def test_unknown_workflows_and_schedules_are_404(api: Running) -> None:
    await register(api)
    for path in ("/schedules/timed/nope", "/schedules/nope/nightly"):
        assert error(await api.client.get(path), 404)["code"] == "not_found"
        for action in ("pause", "resume", "trigger"):
            assert error(await api.client.post(f"{path}/{action}"), 404)["code"] == "not_found"
        body = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "dry_run": True}
        assert error(await api.client.post(f"{path}/backfill", json=body), 404)["code"] == "not_found"
    assert (await api.client.get("/schedules", params={"workflow": "nope"})).json() == {"schedules": []}


async def test_a_schedule_a_new_version_drops_is_gone(api: Running) -> None:
    await register(api)
    dropped = FLOW.replace(
        '  - {id: nightly, cron: "30 2 * * *", timezone: Europe/Berlin, input: {env: prod}}\n', ""
    )
    await register(api, dropped)
    listed = (await api.client.get("/schedules")).json()["schedules"]
    assert [s["id"] for s in listed] == ["often"]
    assert error(await api.client.get("/schedules/timed/nightly"), 404)["code"] == "not_found"
    assert error(await api.client.post("/schedules/timed/nightly/trigger"), 404)["code"] == "not_found"


# -- operating --------------------------------------------------------------------------


async def test_pause_then_resume_fires_again_from_the_next_tick_after_now(api: Running) -> None:
    await register(api)
    paused = await api.client.post("/schedules/timed/often/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert (await api.client.get("/schedules/timed/often")).json()["paused"] is True
    again = await api.client.post("/schedules/timed/often/pause")
    assert again.status_code == 200 and again.json()["paused"] is True, "pausing twice is harmless"

    before = time.time()
    resumed = await api.client.post("/schedules/timed/often/resume")
    after = time.time()
    assert resumed.status_code == 200
    view = resumed.json()
    assert view["paused"] is False
    next_tick = parse(view["next_tick"]).timestamp()
    assert before < next_tick <= after + 600 and next_tick % 600 == 0
    assert parse(view["next_ticks"][0]).timestamp() == next_tick
    assert (await api.client.get("/schedules/timed/often")).json()["paused"] is False


async def test_trigger_starts_a_run_now_with_the_schedules_input_even_when_paused(api: Running) -> None:
    await register(api)
    await api.client.post("/schedules/timed/nightly/pause")
    before = time.time()
    answer = await api.client.post("/schedules/timed/nightly/trigger")
    assert answer.status_code == 201, answer.text
    run = answer.json()
    assert run["workflow"] == "timed" and run["input"] == {"env": "prod"}
    assert run["trigger"]["type"] == "schedule" and run["trigger"]["schedule"] == "nightly"
    tick = parse(run["trigger"]["tick"]).timestamp()
    assert before - 1 < tick < time.time() + 1, "its tick is now"

    async def finished() -> dict[str, Any] | None:
        found: dict[str, Any] = (await api.client.get(f"/runs/{run['id']}")).json()
        return found if found["status"] == "succeeded" else None

    done = await async_wait_until(finished, what="the triggered run to finish")
    assert done["trigger"] == run["trigger"]
    view = (await api.client.get("/schedules/timed/nightly")).json()
    assert (view["fired"], view["paused"]) == (1, True)
    assert view["last_tick"] == run["trigger"]["tick"]


# -- backfill ---------------------------------------------------------------------------


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> str:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).isoformat().replace("+00:00", "Z")


async def test_a_dry_run_lists_the_ticks_of_the_range_reading_naive_times_in_the_schedules_zone(
    api: Running,
) -> None:
    await register(api)
    # Midnight to one o'clock in Berlin (UTC+1 in January): both ends included.
    every = await dry_run(api, "often", "2026-01-01T00:00:00", "2026-01-01T01:00:00")
    assert every.status_code == 200, every.text
    assert every.json() == {
        "ticks": [utc(2025, 12, 31, 23, minute) for minute in range(0, 60, 10)] + [utc(2026, 1, 1, 0, 0)],
        "dry_run": True,
        "started": 0,
        "buffered": 0,
        "existing": 0,
    }
    # A time with an offset is read as written.
    offset = await dry_run(api, "often", "2026-01-01T00:05:00Z", "2026-01-01T00:30:00+00:00")
    assert offset.json()["ticks"] == [utc(2026, 1, 1, 0, m) for m in (10, 20, 30)]

    cron = await dry_run(api, "nightly", "2026-01-05T00:00:00", "2026-01-09T02:30:00")
    assert cron.json()["ticks"] == [utc(2026, 1, day, 1, 30) for day in range(5, 10)]
    # Over the spring change (29 March 2026, 02:00 → 03:00 in Berlin): the skipped 02:30
    # fires at the first valid minute, and the offset changes from +01:00 to +02:00.
    spring = await dry_run(api, "nightly", "2026-03-28T00:00:00", "2026-03-31T00:00:00")
    assert spring.json()["ticks"] == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
    ]

    empty = await dry_run(api, "nightly", "2026-01-05T03:00:00", "2026-01-06T02:00:00")
    assert empty.status_code == 200 and empty.json()["ticks"] == []
    assert await runs_of(api) == [], "a dry run starts nothing"


@pytest.mark.parametrize(
    ("body", "path", "says"),
    [
        ({"to": "2026-01-01T00:00:00Z"}, "$", "'from' is a required property"),
        ({"from": "2026-01-01T00:00:00Z"}, "$", "'to' is a required property"),
        ({"from": "yesterday", "to": "2026-01-01T00:00:00Z"}, "$.from", "not an ISO 8601 time"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-13-01"}, "$.to", "not an ISO 8601 time"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "$.to", "is before from"),
        ({"from": "2026-01-01", "to": "2026-01-02", "overlap": "skip"}, "$.overlap", "'skip' is not one of"),
        ({"from": "2026-01-01", "to": "2026-01-02", "dry_run": "yes"}, "$.dry_run", "not of type 'boolean'"),
        ({"from": "2026-01-01", "to": "2026-01-02", "extra": 1}, "$", "'extra' was unexpected"),
        ({"from": 20260101, "to": "2026-01-02"}, "$.from", "not of type 'string'"),
    ],
)
async def test_backfill_refuses_bad_input_naming_the_field(
    api: Running, body: dict[str, Any], path: str, says: str
) -> None:
    await register(api)
    refused = error(await api.client.post("/schedules/timed/often/backfill", json=body), 422)
    assert refused["code"] == "invalid_request"
    assert any(d["path"] == path and says in d["message"] for d in refused["details"]), refused
    assert await runs_of(api) == []


@pytest.mark.parametrize(
    ("schedule", "start", "end", "path"),
    [
        ("nightly", "0001-01-01T00:00:00", "0001-01-02T00:00:00", "$.from"),
        ("often", "0001-01-01T00:00:00+14:00", "0001-01-01T01:00:00+14:00", "$.from"),
        ("nightly", "9999-12-31T00:00:00Z", "9999-12-31T23:59:59Z", "$.from"),
        ("often", "2026-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", "$.to"),
    ],
)
async def test_backfill_refuses_times_at_the_ends_of_the_calendar(
    api: Running, schedule: str, start: str, end: str, path: str
) -> None:
    await register(api)
    refused = error(await dry_run(api, schedule, start, end), 422)
    assert [d["path"] for d in refused["details"]] == [path], refused


async def test_backfill_refuses_more_than_a_thousand_ticks(api: Running) -> None:
    await register(api)
    # 10-minute ticks: 1,000 in 9,990 minutes, both ends included.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fits: dict[str, Any] = {
        "from": utc(2026, 1, 1),
        "to": (start + timedelta(minutes=9990)).isoformat(),
        "dry_run": True,
    }
    assert len((await backfill(api, "often", fits)).json()["ticks"]) == 1000
    fits["to"] = (start + timedelta(minutes=10000)).isoformat()
    for dry_run in (True, False):
        refused = error(await backfill(api, "often", fits | {"dry_run": dry_run}), 422)
        assert refused["code"] == "invalid_request" and "more than 1000 ticks" in refused["message"]
    assert await runs_of(api) == []


async def test_backfill_with_allow_all_starts_a_run_per_tick_and_again_finds_them_existing(
    api: Running,
) -> None:
    await register(api)
    body = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:30:00Z", "overlap": "allow_all"}
    ticks = [utc(2026, 1, 1, 0, m) for m in (0, 10, 20, 30)]

    first = await backfill(api, "often", body)
    assert first.status_code == 202, first.text
    assert first.json() == {"ticks": ticks, "dry_run": False, "started": 4, "buffered": 0, "existing": 0}
    runs = await runs_of(api)
    assert sorted(r["trigger"]["tick"] for r in runs) == ticks
    assert {(r["trigger"]["type"], r["trigger"]["schedule"]) for r in runs} == {("backfill", "often")}
    assert {str(r["input"]) for r in runs} == {str({"env": "dev"})}

    again = await backfill(api, "often", body)
    assert again.status_code == 202
    assert again.json() == {"ticks": ticks, "dry_run": False, "started": 0, "buffered": 0, "existing": 4}
    overlapping = await backfill(api, "often", body | {"to": "2026-01-01T00:40:00Z"})
    assert (overlapping.json()["started"], overlapping.json()["existing"]) == (1, 4)
    assert len(await runs_of(api)) == 5
    assert (await api.client.get("/schedules/timed/often")).json()["fired"] == 5


async def test_backfill_by_default_queues_the_ticks_and_runs_them_one_after_another(api: Running) -> None:
    await register(api)
    body = {"from": "2026-01-05T00:00:00", "to": "2026-01-07T23:59:59"}
    answer = await backfill(api, "nightly", body)
    assert answer.status_code == 202, answer.text
    assert (answer.json()["started"], answer.json()["buffered"]) == (0, 3)

    async def all_ran() -> list[dict[str, Any]] | None:
        runs = await runs_of(api)
        return runs if len(runs) == 3 and all(r["status"] == "succeeded" for r in runs) else None

    runs = await async_wait_until(all_ran, timeout=30, what="the three buffered ticks to run")
    assert sorted(r["trigger"]["tick"] for r in runs) == [utc(2026, 1, day, 1, 30) for day in (5, 6, 7)]
    assert {r["trigger"]["type"] for r in runs} == {"backfill"}
    # One after another: each started once the one before had finished.
    ordered = sorted(runs, key=lambda r: r["trigger"]["tick"])
    for earlier, later in itertools.pairwise(ordered):
        assert parse(later["created_at"]) >= parse(earlier["finished_at"])
    view = (await api.client.get("/schedules/timed/nightly")).json()
    assert (view["buffered"], view["fired"]) == ([], 3)


async def test_ticks_backfilled_while_paused_wait_for_the_resume_then_run(api: Running) -> None:
    await register(api)
    await api.client.post("/schedules/timed/nightly/pause")
    body = {"from": "2026-01-05T00:00:00", "to": "2026-01-06T23:59:59"}
    assert (await backfill(api, "nightly", body)).json()["buffered"] == 2
    view = await api.client.get("/schedules/timed/nightly")
    assert view.json()["buffered"] == [utc(2026, 1, 5, 1, 30), utc(2026, 1, 6, 1, 30)]

    await api.client.post("/schedules/timed/nightly/resume")

    async def all_ran() -> list[dict[str, Any]] | None:
        runs = await runs_of(api)
        return runs if len(runs) == 2 and all(r["status"] == "succeeded" for r in runs) else None

    runs = await async_wait_until(all_ran, timeout=30, what="the buffered ticks to run after the resume")
    assert sorted(r["trigger"]["tick"] for r in runs) == [utc(2026, 1, 5, 1, 30), utc(2026, 1, 6, 1, 30)]


# -- declaring ------------------------------------------------------------------------------


async def test_a_workflow_with_bad_schedules_is_refused_naming_each_and_its_line(api: Running) -> None:
    bad = """name: bad
inputs:
  type: object
  additionalProperties: false
  properties: {env: {type: string, enum: [prod, dev]}}
schedules:
  - {id: a, cron: "61 * * * *"}
  - {id: b, every: 1h, timezone: Mars/Olympus}
  - {id: c, every: 1h, input: {env: staging}}
  - {id: d, every: 1h, input: {nope: 1}}
  - {id: e, every: 100ms}
  - {id: f, every: 1h, overlap: sometimes}
  - {id: g, every: 1h}
  - {id: g, every: 2h}
steps:
  - {id: s, action: noop}
"""
    refused = error(await api.client.post("/workflows", content=bad, headers=YAML), 422)
    assert refused["code"] == "invalid_workflow"
    found = {(d["path"], d["line"]) for d in refused["details"]}
    assert {
        ("schedules[0].cron", 7),
        ("schedules[1].timezone", 8),
        ("schedules[2].input.env", 9),
        ("schedules[4].every", 11),
        ("schedules[5].overlap", 12),
        ("schedules[7].id", 14),
    } <= found, found
    assert any(path.startswith("schedules[3].input") and line == 10 for path, line in found), found
    assert (await api.client.get("/workflows")).json() == {"workflows": []}
    assert (await api.client.get("/schedules")).json() == {"schedules": []}


def test_every_schedule_route_is_in_the_document() -> None:
    from starlette.routing import Route

    paths = document()["paths"]
    for route in schedules.routes:
        assert isinstance(route, Route)
        assert route.path in paths, route.path
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in paths[route.path], f"{method} {route.path}"


async def test_the_served_document_lists_the_schedule_paths(api: Running) -> None:
    served = (await api.client.get("/openapi.json")).json()["paths"]
    assert {
        "/schedules",
        "/schedules/{workflow}/{schedule}",
        "/schedules/{workflow}/{schedule}/pause",
        "/schedules/{workflow}/{schedule}/resume",
        "/schedules/{workflow}/{schedule}/trigger",
        "/schedules/{workflow}/{schedule}/backfill",
    } <= set(served)

"""What the dashboard reads from a request (query strings, paths, form fields) is checked as
the JSON API checks it, on both backends: a value the API refuses is a 4xx page or an inline
error, never a 500 (or PostgreSQL's 503), and nothing is stored. And what polls stops when
polling can only fail again."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from executor.http.ui import render
from executor.nesting import MAX_DEPTH
from tests.api.conftest import start_service, stop_service
from tests.support.waiting import async_wait_until

APPROVAL = """
name: approval
inputs:
  type: object
  properties:
    data: {}
steps:
  - id: gate
    action: wait
    with: {signal: go}
"""
SURROGATE = '{"data": "\\ud800"}'  # the JSON escape of a lone surrogate, as typed
NINES = "9" * 5000
NOT_A_RUN = "00000000-0000-4000-8000-000000000000"


@dataclass
class Ui:
    client: httpx.AsyncClient
    origin: str

    async def post(self, path: str, fields: dict[str, str]) -> httpx.Response:
        """A dashboard form as the browser posts it: the CSRF field, from this origin."""
        headers = {"Origin": self.origin, "Sec-Fetch-Site": "same-origin"}
        csrf = self.client.cookies["executor_csrf"]
        return await self.client.post(path, data={"csrf": csrf, **fields}, headers=headers)

    async def runs(self, **filters: str) -> list[dict[str, Any]]:
        answer = await self.client.get("/runs", params=filters)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["runs"]
        return found

    async def waiting_run(self) -> str:
        started = await self.client.post("/runs", json={"workflow": "approval", "input": {}})
        assert started.status_code == 201, started.text
        run_id: str = started.json()["id"]

        async def waiting() -> bool:
            steps = (await self.client.get(f"/runs/{run_id}")).json()["steps"]
            return any(step["id"] == "gate" and step["status"] == "waiting" for step in steps)

        await async_wait_until(waiting, what="the gate to wait")
        return run_id

    async def status_of(self, run_id: str) -> str:
        status: str = (await self.client.get(f"/runs/{run_id}")).json()["status"]
        return status


@pytest.fixture
async def ui(database_url: str) -> AsyncIterator[Ui]:
    service, task = await start_service(database_url)
    origin = f"http://127.0.0.1:{service.port}"
    try:
        async with httpx.AsyncClient(base_url=origin, timeout=30) as client:
            pushed = await client.post(
                "/workflows", content=APPROVAL.encode(), headers={"Content-Type": "application/yaml"}
            )
            assert pushed.status_code == 201, pushed.text
            assert (await client.get("/ui/runs")).status_code == 200  # the CSRF cookie
            yield Ui(client, origin)
    finally:
        await stop_service(service, task)


def nested(levels: int) -> str:
    """JSON text of ``levels`` objects, each inside the one before."""
    return '{"a": ' * levels + "1" + "}" * levels


def cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


BAD_CURSORS = [
    cursor(float("nan"), NOT_A_RUN),
    cursor(1e300, NOT_A_RUN),
    cursor(float("inf"), NOT_A_RUN),
    cursor(-1.0, NOT_A_RUN),
    cursor(1.0, "not-a-run-id"),
    cursor("1.0", NOT_A_RUN),
    cursor(1.0),
]


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/ui/workflows/approval?version=%C2%B2", "version"),
        (f"/ui/workflows/approval?version={NINES}", "version"),
        ("/ui/workflows/approval?version=0", "version"),
        ("/ui/workflows/approval/diff?from=%C2%B2", "from"),
        (f"/ui/workflows/approval/diff?to={NINES}", "to"),
        ("/ui/workflows/%00", "name"),
        ("/ui/workflows/%00/diff", "name"),
        ("/ui/workflows/" + "x" * 65, "name"),
        ("/ui/runs?workflow=%00", "workflow"),
        ("/ui/runs?workflow=" + "x" * 65, "workflow"),
        ("/ui/runs?since=0001-01-01T00:00:00%2B23:59", "since"),
        ("/ui/runs?until=9999-12-31T23:59:59-23:59", "until"),
        ("/ui/runs?since=1969-12-31T23:59:59Z", "since"),
        ("/ui/runs/bulk?action=cancel&since=0001-01-01T00:00:00%2B23:59", "since"),
        ("/ui/runs/bulk?action=cancel&since=9999-12-31T23:59:59-23:59", "since"),
        ("/ui/runs/bulk?action=cancel&workflow=%00", "workflow"),
        ("/ui/schedules?workflow=%00", "workflow"),
        ("/ui/schedules/%00/x/backfill", "workflow"),
        ("/ui/schedules/approval/%00/backfill", "schedule"),
        *((f"/ui/runs?cursor={quote(bad)}", "cursor") for bad in BAD_CURSORS),
    ],
)
async def test_a_value_the_api_refuses_is_a_4xx_page_naming_it(ui: Ui, path: str, named: str) -> None:
    answer = await ui.client.get(path)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:500])
    assert named in answer.text


async def test_the_api_refuses_a_cursor_it_did_not_give(ui: Ui) -> None:
    for bad in BAD_CURSORS:
        answer = await ui.client.get("/runs", params={"cursor": bad})
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["error"]["details"] == [{"path": "cursor", "message": "not a valid cursor"}]
    # What it gives still pages, on both sides.
    for _ in range(3):
        await ui.client.post("/runs", json={"workflow": "approval", "input": {}})
    first = (await ui.client.get("/runs", params={"limit": 2})).json()
    second = await ui.client.get("/runs", params={"limit": 2, "cursor": first["next_cursor"]})
    assert second.status_code == 200 and len(second.json()["runs"]) == 1
    page = await ui.client.get("/ui/runs", params={"cursor": first["next_cursor"]})
    assert page.status_code == 200 and page.text.count("data-run=") == 1


async def test_the_start_form_reads_json_as_the_api_reads_a_body(ui: Ui) -> None:
    path = "/ui/workflows/approval/runs"
    refused = {
        "a lone surrogate, whole input": {"mode": "json", "raw": SURROGATE},
        "a lone surrogate, in a field": {"mode": "fields", "input.data": '"\\udfff"'},
        "an input deeper than the API takes": {"mode": "json", "raw": nested(MAX_DEPTH)},
        "a field deeper than the API takes": {"mode": "fields", "input.data": nested(MAX_DEPTH - 1)},
        "too deep to parse": {"mode": "json", "raw": nested(3000)},
        "a version that is no number": {"mode": "json", "raw": "{}", "version": "²"},
        "a version too long to be one": {"mode": "json", "raw": "{}", "version": NINES},
    }
    for what, fields in refused.items():
        answer = await ui.post(path, fields)
        assert answer.status_code == 422, (what, answer.status_code, answer.text[:500])
    general = await ui.post(path, refused["a lone surrogate, whole input"])
    assert 'id="start-error"' in general.text and "not valid Unicode" in general.text
    field = await ui.post(path, refused["a field deeper than the API takes"])
    assert 'id="input-0-error"' in field.text and "nested deeper" in field.text
    assert await ui.runs() == [], "nothing refused was stored"
    assert (await ui.client.get("/ui/runs")).status_code == 200

    # Exactly as deep as the API takes: started, here and there alike.
    api = await ui.client.post(
        "/runs", json={"workflow": "approval", "input": json.loads(nested(MAX_DEPTH - 1))}
    )
    assert api.status_code == 201, api.text
    too_deep = {"workflow": "approval", "input": json.loads(nested(MAX_DEPTH))}
    assert (await ui.client.post("/runs", json=too_deep)).status_code == 422
    started = await ui.post(path, {"mode": "json", "raw": nested(MAX_DEPTH - 1)})
    assert started.status_code == 303, started.text[:500]
    in_field = await ui.post(path, {"mode": "fields", "input.data": nested(MAX_DEPTH - 2)})
    assert in_field.status_code == 303, in_field.text[:500]
    assert len(await ui.runs()) == 3
    for run in await ui.runs():
        assert (await ui.client.get(f"/ui/runs/{run['id']}")).status_code == 200


async def test_the_signal_form_reads_its_payload_as_the_api_does(ui: Ui) -> None:
    run_id = await ui.waiting_run()
    for payload in ('"\\ud800"', nested(MAX_DEPTH), nested(3000)):
        answer = await ui.post(f"/ui/runs/{run_id}/signal", {"name": "go", "payload": payload})
        assert answer.status_code == 422, answer.text[:500]
        assert 'id="payload-error"' in answer.text
    assert await ui.status_of(run_id) == "running", "no signal was sent"
    sent = await ui.post(f"/ui/runs/{run_id}/signal", {"name": "go", "payload": nested(MAX_DEPTH - 1)})
    assert sent.status_code == 303


async def test_a_bulk_confirmation_out_of_range_changes_nothing(ui: Ui) -> None:
    run_id = await ui.waiting_run()
    valid = {"action": "cancel", "until": "4102444800.0", "confirmed": "1"}
    for name, value in [
        ("until", "1e300"),
        ("until", "nan"),
        ("since", "-1e20"),
        ("since", "inf"),
        ("confirmed", "²"),
        ("confirmed", NINES),
        ("workflow", "\x00"),
        ("workflow", "x" * 65),
    ]:
        answer = await ui.post("/ui/runs/bulk", {**valid, name: value})
        assert answer.status_code == 422, (name, value, answer.status_code, answer.text[:500])
        assert f'id="{name}-error"' in answer.text, (name, value)
    assert await ui.status_of(run_id) == "running"
    done = await ui.post("/ui/runs/bulk", valid)
    assert done.status_code == 200 and 'data-bulk-changed="1"' in done.text
    assert await ui.status_of(run_id) == "cancelled"


async def test_polling_a_run_that_is_gone_stops(ui: Ui) -> None:
    htmx = {"HX-Request": "true"}
    for path in (f"/ui/runs/{NOT_A_RUN}/live?v=x", f"/ui/runs/{NOT_A_RUN}/steps/gate/live?v=x"):
        polled = await ui.client.get(path, headers=htmx)
        # htmx's "stop polling", with a note in the polled element's place.
        assert polled.status_code == 286, polled.text
        assert "data-live-gone" in polled.text and "hx-get" not in polled.text
        assert (await ui.client.get(path)).status_code == 404, "a page, not htmx: the 404 page"
    rows = await ui.client.get("/ui/runs?fragment=rows&status=bogus", headers=htmx)
    assert rows.status_code == 286
    page = await ui.client.get("/ui/runs?status=bogus")
    assert page.status_code == 422 and 'hx-trigger="every' not in page.text


def test_a_time_no_date_holds_is_shown_as_text() -> None:
    for seconds in (-1e20, 1e20, float("nan"), -62167219200.0):
        shown = str(render.when(seconds))
        assert "<time" not in shown and "out of a date" in shown
    assert 'datetime="1970-01-01T00:00:00Z"' in str(render.when(0.0))

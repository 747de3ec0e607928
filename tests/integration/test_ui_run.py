"""The run page's handlers over real HTTP, without a browser: what a plain form (no script)
gets back, what the live fragment answers, and bad parameters named rather than crashing."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import start_service, stop_service
from tests.support.waiting import async_wait_until

WAITS = """
name: waits
steps:
  - id: b
    action: wait
    with: {signal: go}
  - id: each
    action: noop
    for_each: "{{ range(3) }}"
"""


@pytest.fixture
async def ui(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    service, task = await start_service(database_url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=30) as client:
            await client.get("/ui/runs")  # the CSRF cookie
            client.headers["X-CSRF-Token"] = client.cookies["executor_csrf"]
            yield client
    finally:
        await stop_service(service, task)


async def waiting_run(ui: httpx.AsyncClient) -> str:
    pushed = await ui.post("/workflows", content=WAITS.encode(), headers={"Content-Type": "application/yaml"})
    assert pushed.status_code in (200, 201), pushed.text
    run_id: str = (await ui.post("/runs", json={"workflow": "waits"})).json()["id"]

    async def waiting() -> bool:
        steps = (await ui.get(f"/runs/{run_id}")).json()["steps"]
        return any(step["id"] == "b" and step["status"] == "waiting" for step in steps)

    await async_wait_until(waiting, what="b waiting")
    return run_id


async def status_of(ui: httpx.AsyncClient, run_id: str) -> Any:
    return (await ui.get(f"/runs/{run_id}")).json()["status"]


async def test_a_plain_form_action_redirects_and_a_refused_one_is_a_409_page(ui: httpx.AsyncClient) -> None:
    run_id = await waiting_run(ui)
    refused = await ui.post(f"/ui/runs/{run_id}/resume")
    assert refused.status_code == 409
    assert "Not possible now" in refused.text and "not paused" in refused.text
    assert 'id="run-live"' in refused.text, "the run page, with the notice on it"
    paused = await ui.post(f"/ui/runs/{run_id}/pause")
    assert paused.status_code == 303 and paused.headers["location"] == f"/ui/runs/{run_id}"
    assert await status_of(ui, run_id) == "paused"
    # htmx: a 200 (htmx swaps only those) with the live part and the notice out of band.
    resumed = await ui.post(f"/ui/runs/{run_id}/resume", headers={"HX-Request": "true"})
    assert resumed.status_code == 200
    assert 'id="run-notice"' in resumed.text and 'hx-swap-oob="true"' in resumed.text
    assert await status_of(ui, run_id) == "running"
    await ui.post(f"/runs/{run_id}/cancel")


async def test_an_action_without_the_csrf_token_changes_nothing(ui: httpx.AsyncClient) -> None:
    run_id = await waiting_run(ui)
    refused = await ui.post(f"/ui/runs/{run_id}/cancel", headers={"X-CSRF-Token": "forged"})
    assert refused.status_code == 403
    assert await status_of(ui, run_id) == "running"
    await ui.post(f"/runs/{run_id}/cancel")


async def test_the_live_fragment_answers_204_while_nothing_changed(ui: httpx.AsyncClient) -> None:
    run_id = await waiting_run(ui)
    page = (await ui.get(f"/ui/runs/{run_id}")).text
    found = re.search(r'hx-get="(/ui/runs/[^"]+/live\?v=[0-9a-f]+)"', page)
    assert found is not None, "a running run's page polls"
    assert (await ui.get(found.group(1))).status_code == 204
    await ui.post(f"/runs/{run_id}/signals/go", json={"payload": 1})

    async def changed() -> httpx.Response | None:
        answer = await ui.get(found.group(1))
        return answer if answer.status_code == 200 else None

    fragment = await async_wait_until(changed, what="the fragment to change")
    assert "data-run-state=" in fragment.text
    assert 'hx-get="' not in fragment.text, "a finished run's fragment stops the polling"


async def test_a_signal_form_names_the_field_and_sends_nothing(ui: httpx.AsyncClient) -> None:
    run_id = await waiting_run(ui)
    bad_json = await ui.post(f"/ui/runs/{run_id}/signal", data={"name": "go", "payload": "{nope"})
    assert bad_json.status_code == 422
    assert 'id="payload-error"' in bad_json.text and "not valid JSON" in bad_json.text
    no_name = await ui.post(f"/ui/runs/{run_id}/signal", data={"name": " ", "payload": ""})
    assert no_name.status_code == 422 and 'id="name-error"' in no_name.text
    too_long = await ui.post(f"/ui/runs/{run_id}/signal", data={"name": "x" * 1001, "payload": ""})
    assert too_long.status_code == 422 and 'id="name-error"' in too_long.text
    assert await status_of(ui, run_id) == "running"
    sent = await ui.post(f"/ui/runs/{run_id}/signal", data={"name": "go", "payload": '{"a": 1}'})
    assert sent.status_code == 303

    async def succeeded() -> bool:
        return bool(await status_of(ui, run_id) == "succeeded")

    await async_wait_until(succeeded, what="the run to succeed")
    finished = await ui.post(f"/ui/runs/{run_id}/signal", data={"name": "go", "payload": ""})
    assert finished.status_code == 422 and "takes no" in finished.text


TWO_WAITS = """
name: two_waits
steps:
  - {id: first, action: wait, with: {signal: go}}
  - {id: second, action: wait, needs: [first], with: {signal: go}}
"""


async def test_a_signal_form_sent_twice_is_one_signal(ui: httpx.AsyncClient) -> None:
    pushed = await ui.post(
        "/workflows", content=TWO_WAITS.encode(), headers={"Content-Type": "application/yaml"}
    )
    assert pushed.status_code in (200, 201), pushed.text
    run_id = (await ui.post("/runs", json={"workflow": "two_waits"})).json()["id"]
    page = (await ui.get(f"/ui/runs/{run_id}")).text
    match = re.search(r'name="key" value="(ui-[0-9a-f]{32})"', page)
    assert match is not None, "the form carries its idempotency key"
    form = {"name": "go", "payload": "", "key": match.group(1)}
    for _ in range(2):  # a double click: the same form twice
        assert (await ui.post(f"/ui/runs/{run_id}/signal", data=form)).status_code == 303

    async def steps() -> dict[str, str]:
        return {s["id"]: s["status"] for s in (await ui.get(f"/runs/{run_id}")).json()["steps"]}

    async def first_took_it() -> bool:
        return await steps() == {"first": "succeeded", "second": "waiting"}

    await async_wait_until(first_took_it, what="first to take the signal and second to wait")
    assert (await steps())["second"] == "waiting", "the second post sent no second signal"
    again = (await ui.get(f"/ui/runs/{run_id}")).text
    fresh = re.search(r'name="key" value="(ui-[0-9a-f]{32})"', again)
    assert fresh is not None and fresh.group(1) != match.group(1), "a new form, a new key"
    form["key"] = fresh.group(1)
    assert (await ui.post(f"/ui/runs/{run_id}/signal", data=form)).status_code == 303

    async def succeeded() -> bool:
        return bool(await status_of(ui, run_id) == "succeeded")

    await async_wait_until(succeeded, what="the second signal to end the run")


@pytest.mark.parametrize(
    ("path", "status", "named"),
    [
        ("/ui/runs/00000000-0000-0000-0000-000000000000", 404, "no run"),
        ("/ui/runs/not-a-run", 404, "no run"),
        ("/ui/runs/{run}/steps/nope", 404, "has no step nope"),
        ("/ui/runs/{run}/steps/each?item=7", 404, "item 7"),
        ("/ui/runs/{run}/steps/each?item=x", 422, "item"),
        ("/ui/runs/{run}/steps/each?items_page=0", 422, "items_page"),
        ("/ui/runs/{run}/steps/each?items_status=bogus", 422, "items_status"),
        ("/ui/runs/bulk?action=cancel&status=bogus", 422, "status"),
        ("/ui/runs/bulk?action=cancel&since=yesterday", 422, "since"),
    ],
)
async def test_bad_parameters_are_named_not_crashes(
    ui: httpx.AsyncClient, path: str, status: int, named: str
) -> None:
    run_id = await waiting_run(ui)
    answer = await ui.get(path.format(run=run_id))
    assert answer.status_code == status, answer.text
    assert named in answer.text
    await ui.post(f"/runs/{run_id}/cancel")


async def test_a_bulk_post_missing_its_confirmation_is_refused(ui: httpx.AsyncClient) -> None:
    run_id = await waiting_run(ui)
    answer = await ui.post("/ui/runs/bulk", data={"action": "cancel", "workflow": "waits"})
    assert answer.status_code == 422
    assert 'id="until-error"' in answer.text and 'id="confirmed-error"' in answer.text
    nan = await ui.post("/ui/runs/bulk", data={"action": "cancel", "until": "nan", "confirmed": "1"})
    assert nan.status_code == 422 and 'id="until-error"' in nan.text
    assert await status_of(ui, run_id) == "running"
    await ui.post(f"/runs/{run_id}/cancel")


async def test_a_failed_run_page_shows_its_partial_outputs_and_finally_steps(ui: httpx.AsyncClient) -> None:
    text = """
name: partial-page
steps:
  - {id: build, action: noop, with: {output: {version: "1.2"}}}
  - {id: ship, action: shell, needs: [build], with: {command: "exit 5"}}
outputs:
  version: "{{ steps.build.output.version }}"
  url: "{{ steps.ship.output.url }}"
finally:
  - {id: report, action: noop, with: {output: "{{ run.status }}"}}
"""
    pushed = await ui.post("/workflows", content=text.encode(), headers={"Content-Type": "application/yaml"})
    assert pushed.status_code in (200, 201), pushed.text
    run_id: str = (await ui.post("/runs", json={"workflow": "partial-page"})).json()["id"]

    async def failed() -> bool:
        return bool(await status_of(ui, run_id) == "failed")

    await async_wait_until(failed, what="the run failed")
    page = await ui.get(f"/ui/runs/{run_id}")
    assert page.status_code == 200
    assert "data-partial-outputs" in page.text and "those that did not are under Error" in page.text
    shown = html.unescape(page.text)
    assert '"version": "1.2"' in shown and '"url"' not in shown
    assert "outputs.url: " in page.text
    assert f"/ui/runs/{run_id}/steps/report" in page.text, "the finally step is a step of the run"

"""The step page's actions over real HTTP, without a browser: a plain form redirects back to
the step, a refused one is the step page with a 409 notice, a forged CSRF token changes
nothing, a bad item is named."""

from __future__ import annotations

import httpx

from tests.integration.test_ui_run import status_of, ui, waiting_run
from tests.support.waiting import async_wait_until

__all__ = ["ui"]  # the fixture, shared with the run page's tests

# Two waits: cancelling one leaves the run going.
TWO_WAITS = """
name: twowaits
steps:
  - {id: b, action: wait, with: {signal: go}}
  - {id: c, action: wait, with: {signal: later}}
"""


async def step_status(ui: httpx.AsyncClient, run_id: str, step: str) -> str:
    steps = (await ui.get(f"/runs/{run_id}")).json()["steps"]
    status: str = next(s["status"] for s in steps if s["id"] == step)
    return status


async def test_a_plain_form_cancels_and_a_refused_one_is_a_409_page(ui: httpx.AsyncClient) -> None:
    pushed = await ui.post(
        "/workflows", content=TWO_WAITS.encode(), headers={"Content-Type": "application/yaml"}
    )
    assert pushed.status_code in (200, 201), pushed.text
    run_id: str = (await ui.post("/runs", json={"workflow": "twowaits"})).json()["id"]

    async def waiting() -> bool:
        return await step_status(ui, run_id, "b") == "waiting"

    await async_wait_until(waiting, what="b waiting")
    page = (await ui.get(f"/ui/runs/{run_id}/steps/b")).text
    assert 'id="step-cancel"' in page and 'id="step-retry"' not in page
    cancelled = await ui.post(f"/ui/runs/{run_id}/steps/b/cancel")
    assert cancelled.status_code == 303 and cancelled.headers["location"] == f"/ui/runs/{run_id}/steps/b"
    assert await step_status(ui, run_id, "b") == "cancelled"
    refused = await ui.post(f"/ui/runs/{run_id}/steps/b/cancel")
    assert refused.status_code == 409 and "Not possible now" in refused.text
    assert 'id="step-live"' in refused.text, "the step page, with the notice on it"
    # htmx: a 200 with the live part and the notice out of band.
    retried = await ui.post(f"/ui/runs/{run_id}/steps/b/retry", headers={"HX-Request": "true"})
    assert retried.status_code == 200
    assert 'id="step-notice"' in retried.text and 'hx-swap-oob="true"' in retried.text
    await async_wait_until(waiting, what="b waiting again")
    await ui.post(f"/runs/{run_id}/cancel")


async def test_a_step_action_without_the_csrf_token_changes_nothing(ui: httpx.AsyncClient) -> None:
    run_id = await waiting_run(ui)
    for action in ("cancel", "retry"):
        refused = await ui.post(f"/ui/runs/{run_id}/steps/b/{action}", headers={"X-CSRF-Token": "forged"})
        assert refused.status_code == 403
    assert await step_status(ui, run_id, "b") == "waiting"
    await ui.post(f"/runs/{run_id}/cancel")


async def test_a_bad_item_or_step_is_an_error_page(ui: httpx.AsyncClient) -> None:
    run_id = await waiting_run(ui)
    bad = await ui.post(f"/ui/runs/{run_id}/steps/b/cancel", params={"item": "x"})
    assert bad.status_code == 422 and "item" in bad.text
    beyond = await ui.post(f"/ui/runs/{run_id}/steps/each/cancel", params={"item": 9})
    assert beyond.status_code == 422 and "no item 9" in beyond.text
    missing = await ui.post(f"/ui/runs/{run_id}/steps/nope/retry")
    assert missing.status_code == 404 and "nope" in missing.text
    assert await status_of(ui, run_id) == "running"
    await ui.post(f"/runs/{run_id}/cancel")

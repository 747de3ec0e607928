"""The run page shows what a run holds and waits for under keys of mutual exclusion."""

from __future__ import annotations

import html
import re

import httpx

from tests.integration.test_ui_run import ui  # noqa: F401  (the fixture)
from tests.support.waiting import async_wait_until

YAML = {"Content-Type": "application/yaml"}
DEPLOY = """
name: deploy
concurrency: {key: deploy-prod}
steps:
  - {id: ship, action: wait, mutex: ledger, with: {signal: go}}
"""
POST = """
name: post
steps:
  - {id: post, action: wait, mutex: ledger, with: {signal: go}}
"""


def text(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))


async def test_the_run_page_says_what_a_run_holds_and_waits_for(ui: httpx.AsyncClient) -> None:  # noqa: F811
    for flow in (DEPLOY, POST):
        assert (await ui.post("/workflows", content=flow.encode(), headers=YAML)).status_code == 201
    holder = (await ui.post("/runs", json={"workflow": "deploy"})).json()["id"]

    async def holding() -> bool:
        status: str = (await ui.get(f"/runs/{holder}")).json()["steps"][0]["status"]
        return status == "waiting"

    await async_wait_until(holding, what="the first deploy to hold its keys")
    queued = (await ui.post("/runs", json={"workflow": "deploy"})).json()["id"]
    poster = (await ui.post("/runs", json={"workflow": "post"})).json()["id"]

    async def in_line() -> bool:
        return "waiting_for" in (await ui.get(f"/runs/{poster}")).json()["steps"][0]

    await async_wait_until(in_line, what="the post to wait for the ledger")
    page = text(await ui.get(f"/ui/runs/{holder}"))
    assert "Holds deploy-prod , ledger (step ship)" in page
    page = text(await ui.get(f"/ui/runs/{queued}"))
    assert (
        f"Waiting for concurrency key deploy-prod : number 1 in line (limit 1), held by {holder[:8]}" in page
    )
    page = text(await ui.get(f"/ui/runs/{poster}"))
    assert "waiting for mutex ledger" in page

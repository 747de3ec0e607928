"""POST /runs/{id}/steps/{step}/cancel (``?item=N``) and .../retry over HTTP, on a real
service and both backends: what they change, what follows from it, and every refusal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.api.conftest import Running
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
MISSING_RUN = "00000000-0000-0000-0000-000000000000"


def operated(pids: Path) -> str:
    """`nap` runs a shell process (its pid written to ``pids``) for a minute; `gate` waits
    for the signal go."""
    return f"""
name: operated
steps:
  - {{id: nap, action: shell, with: {{command: 'echo $$ > {pids}; exec sleep 60'}}}}
  - {{id: cleanup, action: noop, needs: [nap], trigger_rule: all_done}}
  - {{id: report, action: noop, needs: [nap]}}
  - {{id: gate, action: wait, with: {{signal: go}}}}
  - {{id: later, action: noop, needs: [gate]}}
  - {{id: tail, action: noop, needs: [later]}}
"""


FANNED = """
name: fanned
steps:
  - id: fan
    for_each: [0, 1, 2]
    action: wait
    with: {signal: "go-{{ item }}"}
  - {id: after, action: noop, needs: [fan]}
"""


def fragile(flag: Path) -> str:
    """`a` fails until ``flag`` exists; `b` and `c` follow it; `d` is on its own."""
    return f"""
name: fragile
steps:
  - {{id: a, action: shell, with: {{command: 'test -e {flag}'}}}}
  - {{id: b, action: noop, needs: [a]}}
  - {{id: c, action: noop, needs: [b]}}
  - {{id: d, action: noop}}
"""


PARENT = """
name: parent
steps:
  - {id: child, action: workflow, with: {name: held}}
  - {id: then, action: noop, needs: [child], trigger_rule: all_done}
"""
HELD = "name: held\nsteps:\n  - {id: w, action: wait, with: {signal: never}}\n"


async def register(api: Running, *texts: str) -> None:
    for text in texts:
        response = await api.client.post("/workflows", content=text, headers=YAML)
        assert response.status_code in (200, 201), response.text


async def start(api: Running, workflow: str) -> str:
    response = await api.client.post("/runs", json={"workflow": workflow})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


async def read(api: Running, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = (await api.client.get(f"/runs/{run_id}")).json()
    return run


async def steps(api: Running, run_id: str) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in (await read(api, run_id))["steps"]}


def step_is(api: Running, run_id: str, step: str, *wanted: str) -> Any:
    async def check() -> bool:
        return (await steps(api, run_id))[step]["status"] in wanted

    return check


def run_is(api: Running, run_id: str, wanted: str) -> Any:
    async def check() -> bool:
        return bool((await read(api, run_id))["status"] == wanted)

    return check


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_cancelling_a_running_step_stops_it_and_the_run_goes_on(api: Running, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    await register(api, operated(pids))
    run_id = await start(api, "operated")
    await async_wait_until(lambda: pids.exists() and pids.read_text().strip(), what="the shell's pid")
    await async_wait_until(step_is(api, run_id, "nap", "running"))
    await async_wait_until(step_is(api, run_id, "gate", "waiting"))
    pid = int(pids.read_text())

    cancelled = await api.client.post(f"/runs/{run_id}/steps/nap/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["status"] == "running", "the run goes on"
    nap = next(step for step in cancelled.json()["steps"] if step["id"] == "nap")
    assert (nap["status"], nap["error"]) == ("cancelled", "cancelled by an operator (API)")
    await async_wait_until(lambda: not alive(pid), what="the step's process killed")
    await async_wait_until(step_is(api, run_id, "cleanup", "succeeded"))
    shown = await steps(api, run_id)
    assert shown["report"]["status"] == "skipped", "cancelled counts as skipped for trigger rules"

    again = await api.client.post(f"/runs/{run_id}/steps/nap/cancel")
    assert again.status_code == 409 and again.json()["error"]["status"] == "cancelled"

    # A pending step: cancelled before it ever runs; what needs it is skipped.
    pending = await api.client.post(f"/runs/{run_id}/steps/later/cancel")
    assert pending.status_code == 202
    shown = await steps(api, run_id)
    assert (shown["later"]["status"], shown["tail"]["status"]) == ("cancelled", "skipped")

    # Retried in a running run: it and what depends on it wait for their needs again.
    retried = await api.client.post(f"/runs/{run_id}/steps/later/retry")
    assert retried.status_code == 202, retried.text
    shown = {step["id"]: step for step in retried.json()["steps"]}
    assert (shown["later"]["status"], shown["tail"]["status"]) == ("pending", "pending")
    assert (await api.client.post(f"/runs/{run_id}/signals/go")).status_code == 202
    await async_wait_until(run_is(api, run_id, "succeeded"))
    shown = await steps(api, run_id)
    assert (shown["later"]["status"], shown["tail"]["status"]) == ("succeeded", "succeeded")
    assert shown["nap"]["status"] == "cancelled", "a cancelled step does not fail its run"

    over = await api.client.post(f"/runs/{run_id}/steps/nap/retry")
    assert over.status_code == 409 and over.json()["error"]["status"] == "succeeded"
    final = await api.client.post(f"/runs/{run_id}/steps/gate/cancel")
    assert final.status_code == 409 and final.json()["error"]["status"] == "succeeded"


async def test_cancelling_one_item_and_retrying_the_step(api: Running) -> None:
    await register(api, FANNED)
    run_id = await start(api, "fanned")
    await async_wait_until(step_is(api, run_id, "fan", "running"))

    async def all_waiting() -> bool:
        items = (await steps(api, run_id))["fan"].get("items") or []
        return [item["status"] for item in items] == ["waiting"] * 3

    await async_wait_until(all_waiting, what="three waiting items")
    one = await api.client.post(f"/runs/{run_id}/steps/fan/cancel", params={"item": 1})
    assert one.status_code == 202, one.text
    fan = next(step for step in one.json()["steps"] if step["id"] == "fan")
    assert [item["status"] for item in fan["items"]] == ["waiting", "cancelled", "waiting"]
    assert fan["status"] == "running", "the step goes on with its other items"
    twice = await api.client.post(f"/runs/{run_id}/steps/fan/cancel", params={"item": 1})
    assert twice.status_code == 409 and twice.json()["error"]["status"] == "cancelled"

    for name in ("go-0", "go-2"):
        assert (await api.client.post(f"/runs/{run_id}/signals/{name}")).status_code == 202
    await async_wait_until(run_is(api, run_id, "failed"))
    shown = await steps(api, run_id)
    assert shown["fan"]["status"] == "failed"
    assert shown["fan"]["error"] == "item 1 cancelled: cancelled by an operator (API)"
    assert shown["after"]["status"] == "skipped"

    retried = await api.client.post(f"/runs/{run_id}/steps/fan/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "running", "a failed run runs again"
    await async_wait_until(all_waiting, what="the items fanned out again")
    for name in ("go-0", "go-1", "go-2"):
        assert (await api.client.post(f"/runs/{run_id}/signals/{name}")).status_code == 202
    await async_wait_until(run_is(api, run_id, "succeeded"))
    assert (await steps(api, run_id))["after"]["status"] == "succeeded"


async def test_retrying_a_failed_step_runs_it_and_its_dependents_again(api: Running, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    await register(api, fragile(flag))
    run_id = await start(api, "fragile")
    await async_wait_until(run_is(api, run_id, "failed"))
    before = await steps(api, run_id)
    assert [before[s]["status"] for s in "abcd"] == ["failed", "skipped", "skipped", "succeeded"]

    done = await api.client.post(f"/runs/{run_id}/steps/d/retry")
    assert done.status_code == 409 and done.json()["error"]["status"] == "succeeded"
    # A skipped step may be retried: its trigger rule decides again (here: skipped again).
    skipped = await api.client.post(f"/runs/{run_id}/steps/b/retry")
    assert skipped.status_code == 202
    await async_wait_until(run_is(api, run_id, "failed"))

    flag.touch()
    retried = await api.client.post(f"/runs/{run_id}/steps/a/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "running"
    await async_wait_until(run_is(api, run_id, "succeeded"))
    after = await steps(api, run_id)
    assert [after[s]["status"] for s in "abcd"] == ["succeeded"] * 4
    assert len(after["a"]["history"]) == 2, "the failed attempt stays in the history"
    assert after["d"]["attempts"] == before["d"]["attempts"], "what did not depend on a did not run again"


async def test_cancelling_a_waiting_workflow_step_cancels_its_child_run(api: Running) -> None:
    await register(api, HELD, PARENT)
    run_id = await start(api, "parent")
    await async_wait_until(step_is(api, run_id, "child", "waiting"))

    async def child_id() -> str | None:
        children = (await api.client.get("/runs", params={"parent": run_id})).json()["runs"]
        return children[0]["id"] if children else None

    child = await async_wait_until(child_id, what="the child run")
    assert (await api.client.post(f"/runs/{run_id}/steps/child/cancel")).status_code == 202
    stopped = await read(api, child)
    assert stopped["status"] == "cancelled"
    assert stopped["error"] == f"step child of run {run_id}: cancelled by an operator (API)"
    await async_wait_until(run_is(api, run_id, "succeeded"))
    assert (await steps(api, run_id))["then"]["status"] == "succeeded"


async def test_refusals_name_what_is_wrong(api: Running) -> None:
    await register(api, FANNED)
    run_id = await start(api, "fanned")
    await async_wait_until(step_is(api, run_id, "fan", "running"))
    for action in ("cancel", "retry"):
        missing = await api.client.post(f"/runs/{run_id}/steps/nope/{action}")
        assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
        no_run = await api.client.post(f"/runs/{MISSING_RUN}/steps/fan/{action}")
        assert no_run.status_code == 404
    for bad in ("x", "-1", "1.5", "", "99999999999"):
        refused = await api.client.post(f"/runs/{run_id}/steps/fan/cancel", params={"item": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["details"][0]["path"] == "item"
    beyond = await api.client.post(f"/runs/{run_id}/steps/fan/cancel", params={"item": 3})
    assert beyond.status_code == 422
    assert beyond.json()["error"]["details"] == [
        {"path": "item", "message": "step fan has 3 items (0 to 2); there is no item 3"}
    ]
    not_yet = await api.client.post(f"/runs/{run_id}/steps/after/cancel", params={"item": 0})
    assert not_yet.status_code == 422
    assert not_yet.json()["error"]["details"][0] == {
        "path": "item",
        "message": "step after has no for_each, so no items",
    }
    whole = await api.client.post(f"/runs/{run_id}/steps/fan/retry", params={"item": 0})
    assert whole.status_code == 422 and whole.json()["error"]["details"][0]["path"] == "item"
    running = await api.client.post(f"/runs/{run_id}/steps/fan/retry")
    assert running.status_code == 409 and running.json()["error"]["status"] == "running"

    assert (await api.client.post(f"/runs/{run_id}/cancel")).status_code == 202
    for action in ("cancel", "retry"):
        over = await api.client.post(f"/runs/{run_id}/steps/fan/{action}")
        assert over.status_code == 409 and over.json()["error"]["status"] == "cancelled"
    shown = await steps(api, run_id)
    assert shown["fan"]["status"] == "cancelled", "nothing changed"


async def test_retrying_a_step_stops_a_dependent_still_running_and_runs_it_again(
    api: Running, tmp_path: Path
) -> None:
    pids, gate = tmp_path / "pids", tmp_path / "gate"
    command = f"echo $$ >> {pids}; while [ ! -e {gate} ]; do sleep 0.05; done"
    await register(
        api,
        f"""
name: cleanup
steps:
  - {{id: a, action: shell, with: {{command: 'exit 1'}}}}
  - {{id: b, action: shell, needs: [a], trigger_rule: all_done, with: {{command: '{command}'}}}}
""",
    )
    run_id = await start(api, "cleanup")
    await async_wait_until(step_is(api, run_id, "b", "running"))
    await async_wait_until(lambda: pids.exists() and pids.read_text().strip(), what="b's pid")
    first = int(pids.read_text())
    retried = await api.client.post(f"/runs/{run_id}/steps/a/retry")
    assert retried.status_code == 202, retried.text
    await async_wait_until(lambda: not alive(first), what="the first b stopped")
    await async_wait_until(lambda: len(pids.read_text().split()) == 2, what="b running again after a")
    gate.touch()
    await async_wait_until(run_is(api, run_id, "failed"))
    shown = await steps(api, run_id)
    assert (shown["a"]["status"], shown["b"]["status"]) == ("failed", "succeeded")
    assert len(shown["a"]["history"]) == 2

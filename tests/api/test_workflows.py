"""POST/GET /workflows: versions, YAML and JSON, every validation error at once, runs by
status, the list of versions."""

from __future__ import annotations

from tests.api.conftest import Running
from tests.support.waiting import async_wait_until

FLOW = "name: greet\nsteps:\n  - {id: a, action: noop, with: {output: hi}}\n"
YAML = {"content-type": "application/yaml"}


async def test_register_then_again_then_changed(api: Running) -> None:
    first = await api.client.post("/workflows", content=FLOW, headers=YAML)
    assert (first.status_code, first.json()) == (201, {"name": "greet", "version": 1, "warnings": []})
    again = await api.client.post("/workflows", content=FLOW, headers=YAML)
    assert (again.status_code, again.json()) == (200, {"name": "greet", "version": 1, "warnings": []})
    changed = await api.client.post("/workflows", content=FLOW.replace("hi", "ho"), headers=YAML)
    assert (changed.status_code, changed.json()) == (201, {"name": "greet", "version": 2, "warnings": []})


async def test_json_definitions_are_accepted(api: Running) -> None:
    definition = {"name": "jsonflow", "steps": [{"id": "a", "action": "noop"}]}
    response = await api.client.post("/workflows", json=definition)
    assert (response.status_code, response.json()["version"]) == (201, 1)


async def test_read_latest_one_version_and_the_list(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    await api.client.post("/workflows", content=FLOW.replace("hi", "ho"), headers=YAML)
    latest = await api.client.get("/workflows/greet")
    assert latest.status_code == 200 and latest.json()["version"] == 2
    assert latest.json()["source"] == FLOW.replace("hi", "ho")
    v1 = await api.client.get("/workflows/greet/versions/1")
    assert v1.json()["definition"]["steps"][0]["with"] == {"output": "hi"}
    listed = await api.client.get("/workflows")
    assert [(w["name"], w["version"]) for w in listed.json()["workflows"]] == [("greet", 2)]


async def test_unknown_workflows_and_versions_are_404(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    for path in ("/workflows/nope", "/workflows/greet/versions/9", "/workflows/greet/versions/99999999999"):
        response = await api.client.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_every_problem_with_path_and_line(api: Running) -> None:
    bad = "name: Bad Name\nsteps:\n  - {id: a, action: teleport}\n  - {id: b, action: noop, needs: [zz]}\n"
    response = await api.client.post("/workflows", content=bad, headers=YAML)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_workflow"
    found = {(d["path"], d["line"]) for d in error["details"]}
    assert {("name", 1), ("steps[0].action", 3), ("steps[1].needs[0]", 4)} <= found
    assert (await api.client.get("/workflows")).json() == {"workflows": []}, "nothing half-registered"


async def test_malformed_yaml_json_and_media_types(api: Running) -> None:
    broken = await api.client.post("/workflows", content="name: [unclosed", headers=YAML)
    assert broken.status_code == 422 and broken.json()["error"]["details"][0]["line"] == 1
    bad_json = await api.client.post(
        "/workflows", content="{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "malformed_body"
    text = await api.client.post("/workflows", content=FLOW, headers={"content-type": "text/plain"})
    assert text.status_code == 415
    binary = await api.client.post("/workflows", content=b"\xff\xfe", headers=YAML)
    assert binary.status_code == 400


async def test_the_list_counts_each_workflows_runs_by_status(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    waiter = "name: waiter\nsteps:\n  - {id: w, action: wait, with: {signal: go}}\n"
    await api.client.post("/workflows", content=waiter, headers=YAML)
    await api.client.post("/workflows", content=FLOW.replace("hi", "ho"), headers=YAML)
    listed = await api.client.get("/workflows")
    assert [(w["name"], w["runs"]) for w in listed.json()["workflows"]] == [("greet", {}), ("waiter", {})]
    greets = [
        (await api.client.post("/runs", json={"workflow": "greet", "version": v})).json() for v in (1, 2)
    ]
    waits = [(await api.client.post("/runs", json={"workflow": "waiter"})).json() for _ in range(3)]
    assert (await api.client.post(f"/runs/{waits[0]['id']}/cancel")).status_code == 202

    async def counted() -> dict[str, dict[str, int]]:
        return {w["name"]: w["runs"] for w in (await api.client.get("/workflows")).json()["workflows"]}

    async def settled() -> bool:
        runs = [(await api.client.get(f"/runs/{run['id']}")).json() for run in greets + waits[1:]]
        return [r["status"] for r in runs] == ["succeeded", "succeeded", "running", "running"]

    await async_wait_until(settled, what="greet runs done, waiter runs waiting")
    # Of every version; statuses without runs left out.
    assert await counted() == {"greet": {"succeeded": 2}, "waiter": {"running": 2, "cancelled": 1}}


async def test_versions_newest_first_without_definitions_and_404_for_an_unknown_workflow(
    api: Running,
) -> None:
    for text in (FLOW, FLOW.replace("hi", "ho"), FLOW, FLOW.replace("hi", "hey")):
        await api.client.post("/workflows", content=text, headers=YAML)
    response = await api.client.get("/workflows/greet/versions")
    assert response.status_code == 200
    versions = response.json()["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert all(set(v) == {"version", "digest", "created_at"} for v in versions)
    assert versions[2]["digest"] == (await api.client.get("/workflows/greet/versions/1")).json()["digest"]
    assert [v["created_at"] for v in versions] == sorted((v["created_at"] for v in versions), reverse=True)
    missing = await api.client.get("/workflows/nope/versions")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    too_long = await api.client.get("/workflows/" + "x" * 65 + "/versions")
    assert too_long.status_code == 422 and too_long.json()["error"]["details"][0]["path"] == "name"

"""Hostile input gets a 4xx naming what is wrong, never a 500, and the same on both backends:
integers out of range, nesting past the limit, NUL characters in identifiers."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from executor.http import schemas
from executor.http.openapi import document
from executor.nesting import MAX_DEPTH
from tests.api.conftest import Running

YAML = {"content-type": "application/yaml"}
FLOW = "name: plain\nsteps:\n  - {id: a, action: wait, with: {signal: never}}\n"


def _nested(depth: int) -> str:
    """JSON text nesting ``depth`` levels of arrays and objects (as text: too deep for json.dumps)."""
    opening = "".join('{"a": ' if level % 2 else "[" for level in range(depth))
    return opening + "1" + "".join("}" if level % 2 else "]" for level in reversed(range(depth)))


async def _post_json(api: Running, path: str, text: str) -> httpx.Response:
    return await api.client.post(path, content=text, headers={"content-type": "application/json"})


def _refused(response: httpx.Response, path: str, code: str = "invalid_request") -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert path in [detail["path"] for detail in error["details"]], error
    return str(error["message"])


async def _run(api: Running) -> str:
    assert (await api.client.post("/workflows", content=FLOW, headers=YAML)).status_code == 201
    created = await api.client.post("/runs", json={"workflow": "plain"})
    assert created.status_code == 201
    return str(created.json()["id"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", 2**63), ("version", 2**31), ("version", -(2**63)), ("priority", 2**63), ("priority", 1001)],
)
async def test_integers_out_of_range_are_refused_naming_the_field(
    api: Running, field: str, value: int
) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    answer = await api.client.post("/runs", json={"workflow": "plain", field: value})
    _refused(answer, f"$.{field}")
    assert (await api.client.get("/runs")).json()["runs"] == []


async def test_integers_at_the_bounds_reach_the_store(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    missing = await api.client.post("/runs", json={"workflow": "plain", "version": schemas.INT32_MAX})
    assert missing.status_code == 404
    for priority in (-1000, 1000):
        assert (
            await api.client.post("/runs", json={"workflow": "plain", "priority": priority})
        ).status_code == 201
    for version in (schemas.INT32_MAX, 2**31, 10**30):
        assert (await api.client.get(f"/workflows/plain/versions/{version}")).status_code == 404


@pytest.mark.parametrize(
    ("name", "text"), [("limit", str(2**31)), ("limit", "0"), ("item", str(2**31)), ("after", str(2**62 + 1))]
)
async def test_query_integers_out_of_range_are_refused(api: Running, name: str, text: str) -> None:
    run_id = await _run(api)
    path = "/runs" if name == "limit" else f"/runs/{run_id}/steps/a/logs"
    _refused(await api.client.get(path, params={name: text}), name)


def test_the_document_bounds_every_parameter_as_the_routes_do() -> None:
    for path, operations in document()["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schema, where = parameter["schema"], (path, parameter["name"])
                if schema["type"] == "integer":
                    assert "minimum" in schema and "maximum" in schema, where
                elif schema["type"] == "string":
                    assert "maxLength" in schema or "enum" in schema, where
                else:
                    assert schema["type"] == "boolean", where
    run_request = schemas.RUN_REQUEST["properties"]
    assert isinstance(run_request, dict)
    for field in ("version", "priority"):
        assert run_request[field]["maximum"] <= schemas.INT32_MAX


async def test_run_inputs_nested_past_the_limit_are_refused_naming_it(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    # The body and "input" are two levels: the input itself may nest MAX_DEPTH - 2 more.
    # 100,000 is deep enough that Python's own json module cannot read it.
    for depth, status in ((MAX_DEPTH - 2, 201), (MAX_DEPTH - 1, 422), (1_000, 422), (100_000, 422)):
        answer = await _post_json(
            api, "/runs", '{"workflow": "plain", "input": {"x": ' + _nested(depth) + "}}"
        )
        assert answer.status_code == status, answer.text
        if status == 422:
            assert str(MAX_DEPTH) in _refused(answer, "$")
    assert len((await api.client.get("/runs")).json()["runs"]) == 1


async def test_signal_payloads_nested_past_the_limit_are_refused(api: Running) -> None:
    run_id = await _run(api)
    path = f"/runs/{run_id}/signals/go"
    assert (await _post_json(api, path, '{"payload": ' + _nested(MAX_DEPTH - 1) + "}")).status_code == 202
    for depth in (MAX_DEPTH, 5_000):
        answer = await _post_json(api, path, '{"payload": ' + _nested(depth) + "}")
        assert str(MAX_DEPTH) in _refused(answer, "$")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 100_000])
async def test_workflows_nested_past_the_limit_are_invalid_workflows(api: Running, depth: int) -> None:
    block = "name: deep\nsteps:\n  - id: a\n    action: noop\n    with:\n"
    levels = min(depth, 700)  # indentation grows as the square: 700 levels fit in the body limit
    block += "".join("  " * (level + 3) + "k:\n" for level in range(levels)) + "  " * (levels + 3) + "v\n"
    flow = "name: deep\nsteps: [{id: a, action: noop, with: " + "[" * depth + "]" * depth + "}]\n"
    for text in (block, flow):
        answer = await api.client.post("/workflows", content=text, headers=YAML)
        assert str(MAX_DEPTH) in _refused(answer, "", code="invalid_workflow")
    as_json = '{"name": "deep", "steps": [{"id": "a", "action": "noop", "with": ' + _nested(depth) + "}]}"
    _refused(await _post_json(api, "/workflows", as_json), "$")
    assert (await api.client.get("/workflows")).json()["workflows"] == []


@pytest.mark.parametrize("field", ["workflow", "idempotency_key"])
async def test_nul_in_body_identifiers_is_refused(api: Running, field: str) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    data = {"workflow": "plain", field: "pla\x00in"}
    message = _refused(await api.client.post("/runs", json=data), f"$.{field}")
    assert "NUL" in message
    assert (await api.client.get("/runs")).json()["runs"] == []


async def test_nul_in_path_and_query_values_is_refused(api: Running) -> None:
    run_id = await _run(api)
    _refused(await api.client.post(f"/runs/{run_id}/signals/go%00now", json={}), "name")
    _refused(await api.client.get("/runs", params={"workflow": "pl\x00ain"}), "workflow")
    _refused(await api.client.get("/runs", params={"status": "failed\x00"}), "status")
    cursor = base64.urlsafe_b64encode(json.dumps([1.0, "r\x00n"]).encode()).decode()
    _refused(await api.client.get("/runs", params={"cursor": cursor}), "cursor")
    huge = base64.urlsafe_b64encode(json.dumps([10**400, "r"]).encode()).decode()
    _refused(await api.client.get("/runs", params={"cursor": huge}), "cursor")
    _refused(await api.client.get("/runs/r%00n"), "id")
    _refused(await api.client.post("/runs/r%00n/cancel"), "id")
    _refused(await api.client.post("/runs/r%00n/trigger"), "id")
    _refused(await api.client.get(f"/runs/{run_id}/steps/a%00/logs"), "step")
    _refused(await api.client.get("/workflows/pl%00ain"), "name")
    _refused(await api.client.get("/workflows/pl%00ain/versions/1"), "name")
    run = (await api.client.get(f"/runs/{run_id}")).json()
    assert run["status"] in ("pending", "running")


async def test_nul_inside_run_input_is_kept_as_a_replacement_character(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    created = await api.client.post("/runs", json={"workflow": "plain", "input": {"k\x00": "v\x00"}})
    assert created.status_code == 201
    assert created.json()["input"] == {"k\ufffd": "v\ufffd"}

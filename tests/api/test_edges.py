"""Bad input, authentication, draining, the document's coverage, and concurrent submits."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from executor.http.auth import OPEN_PREFIX
from executor.http.openapi import document
from executor.lifecycle import State
from tests.api.conftest import Running, start_service, stop_service
from tests.support.api import ApiClient, template_of

YAML = {"content-type": "application/yaml"}
FLOW = "name: plain\nsteps:\n  - {id: a, action: wait, with: {signal: never}}\n"


async def _raw(api: Running, head: str, body: bytes) -> bytes:
    """Send a request's head and only part of its body, then read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.service.port)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


async def test_bodies_over_the_limit_are_refused_before_being_read(api: Running) -> None:
    # Announced too large: refused on the headers, with 1 KiB of the 5 MiB sent.
    answer = await _raw(
        api,
        "POST /workflows HTTP/1.1\r\nHost: x\r\nContent-Type: application/yaml\r\n"
        f"Content-Length: {5 << 20}\r\n\r\n",
        b"x" * 1024,
    )
    assert answer.startswith(b"HTTP/1.1 413") and b"body_too_large" in answer
    # Chunked, no length: refused once what arrived passes the limit (1 MiB + 64 KiB sent).
    chunk = b"{" * 65536
    answer = await _raw(
        api,
        "POST /runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(17)),
    )
    assert answer.startswith(b"HTTP/1.1 413")
    assert (await api.client.get("/runs")).json()["runs"] == []


async def test_runs_want_json(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    wrong = await api.client.post(
        "/runs", content='{"workflow": "plain"}', headers={"content-type": "text/plain"}
    )
    assert wrong.status_code == 415
    malformed = await api.client.post("/runs", content="{", headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    not_object = await api.client.post("/runs", json=[1, 2])
    assert not_object.status_code == 422
    assert (await api.client.get("/runs")).json()["runs"] == []


async def test_tokens_guard_everything_but_health(database_url: str) -> None:
    service, task = await start_service(database_url, api_token="old-token,new-token")
    url = f"http://127.0.0.1:{service.port}"
    try:
        async with httpx.AsyncClient(base_url=url) as anonymous:
            assert (await anonymous.get("/health")).status_code == 200
            assert (await anonymous.get("/health/ready")).status_code == 200
            denied = await anonymous.get("/runs")
            assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")
            assert denied.json()["error"]["code"] == "unauthorized"
            wrong = await anonymous.get("/runs", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            basic = await anonymous.get("/runs", headers={"Authorization": "Basic b2xkLXRva2Vu"})
            assert basic.status_code == 401
        for token in ("old-token", "new-token"):
            client = ApiClient(url, token)
            assert (await client.get("/runs")).status_code == 200
            await client.close()
    finally:
        await stop_service(service, task)


async def test_draining_refuses_new_work_but_serves_reads_cancels_and_signals(database_url: str) -> None:
    service, task = await start_service(database_url, drain_delay="1h")
    client = ApiClient(f"http://127.0.0.1:{service.port}")
    try:
        await client.post("/workflows", content=FLOW, headers=YAML)
        run = (await client.post("/runs", json={"workflow": "plain"})).json()
        await client.post(f"/runs/{run['id']}/pause")
        service.lifecycle.request_stop()
        await service.lifecycle.wait_for(State.DRAINING)
        refused = await client.post("/runs", json={"workflow": "plain"})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert (await client.post(f"/runs/{run['id']}/resume")).status_code == 503
        assert (await client.get(f"/runs/{run['id']}")).status_code == 200
        assert (await client.post(f"/runs/{run['id']}/signals/x", json={})).status_code == 202
        assert (await client.post(f"/runs/{run['id']}/cancel")).status_code == 202
    finally:
        await client.close()
        await stop_service(service, task)


async def test_every_route_is_in_the_document(api: Running) -> None:
    from starlette.routing import Route

    from executor.http import health, runs, workflows

    paths = document()["paths"]
    for route in [*health.routes, *workflows.routes, *runs.routes]:
        assert isinstance(route, Route)
        template = route.path.replace("{version:int}", "{version}")
        assert template in paths, template
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in paths[template], f"{method} {template}"
    assert template_of("/runs/abc/steps/x/logs") == "/runs/{id}/steps/{step}/logs"


async def test_fifty_concurrent_submits_with_one_key_make_one_run(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    body = {"workflow": "plain", "idempotency_key": "same-key"}
    answers = await asyncio.gather(*(api.client.post("/runs", json=body) for _ in range(50)))
    assert sorted({a.status_code for a in answers}) == [200, 201]
    assert sum(a.status_code == 201 for a in answers) == 1
    assert len({a.json()["id"] for a in answers}) == 1
    listed = (await api.client.get("/runs", params={"workflow": "plain"})).json()["runs"]
    assert len(listed) == 1


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_unsupported_methods_are_405_in_the_error_shape(api: Running, method: str) -> None:
    response = await api.client.request(method, "/runs")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_the_document_says_which_routes_need_the_token() -> None:
    # What auth.py exempts is public in the document (no security, no 401); every other
    # operation inherits the bearer requirement and lists 401.
    doc = document()
    assert doc["security"] == [{"bearer": []}]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            if path.startswith(OPEN_PREFIX):
                assert operation.get("security") == [], where
                assert "401" not in operation["responses"], where
            else:
                assert "security" not in operation, where
                assert "401" in operation["responses"], where

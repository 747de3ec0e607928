"""What the API answers before a route runs: trailing slashes, methods a path lacks (with an
``Allow`` naming every method it has), requests the HTTP server itself refuses, and the
document each configuration serves."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from executor.http import schemas
from executor.http.openapi import document
from tests.api.conftest import Running, start_service, stop_service

YAML = {"content-type": "application/yaml"}
FLOW = "name: plain\nsteps:\n  - {id: a, action: wait, with: {signal: never}}\n"


async def _exchange(api: Running, request: bytes) -> bytes:
    """Send raw bytes on a new connection; everything the server answers before it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.service.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def _not_found(response: httpx.Response) -> str:
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "not_found"
    return str(error["message"])


async def test_a_trailing_slash_is_a_404_naming_the_route_not_a_redirect(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    run = (await api.client.post("/runs", json={"workflow": "plain"})).json()["id"]
    # A POST would lose its body on clients that follow a redirect with a GET.
    created = await api.client.post("/runs/", json={"workflow": "plain"})
    assert "the route is /runs, without the trailing slash" in _not_found(created)
    assert len((await api.client.get("/runs")).json()["runs"]) == 1
    assert "/runs," in _not_found(await api.client.get("/runs/"))
    assert "/workflows/plain," in _not_found(await api.client.get("/workflows/plain//"))
    cancel = await api.client.post(f"/runs/{run}/cancel/")
    assert f"/runs/{run}/cancel," in _not_found(cancel)
    assert _not_found(await api.client.get("/nothing/")) == "no such route"
    home = await api.client.get("/nothing")
    assert _not_found(home) == "no such route"


def _methods(path: str) -> set[str]:
    methods = {method.upper() for method in document()["paths"][path]}
    return methods | {"HEAD"} if "GET" in methods else methods


@pytest.mark.parametrize("path", sorted(document()["paths"]))
async def test_a_method_a_path_lacks_is_405_allowing_every_method_it_has(api: Running, path: str) -> None:
    concrete = path.replace("{version}", "1").replace("{", "").replace("}", "")
    lacking = [m for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS") if m not in _methods(path)]
    for method in lacking:
        answer = await api.client.request(method, concrete)
        assert answer.status_code == 405, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "method_not_allowed"
        assert answer.headers["allow"] == ", ".join(sorted(_methods(path))), (method, path)


async def test_a_request_the_http_server_cannot_parse_gets_its_bare_400(api: Running) -> None:
    # hypercorn answers these itself, before the application sees a request: a 400 with an
    # empty body, and the connection closed (the JSON error shape cannot be given there).
    for request in (
        b"GARBAGE\r\n\r\n",
        b"GET /runs HTTP/1.1\r\nHost: x\r\nNot a header\r\n\r\n",
        b"GET /r\xffns HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /runs HTTP/1.1\r\n\r\n",  # no Host
        b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
    ):
        answer = await _exchange(api, request)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), (request, answer)
        assert b"content-length: 0" in head.lower() and b"connection: close" in head.lower()
        assert body == b""
    # The instance goes on serving, and what the application answers has its shape.
    answer = await _exchange(api, b"GET /runs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404") and b'"code":"not_found"' in answer
    assert (await api.client.get("/runs")).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/workflows/" + "w" * 65, {}, "name"),
        ("/runs/" + "r" * 65, {}, "id"),
        ("/runs", {"workflow": "w" * 65}, "workflow"),
        ("/runs", {"cursor": "c" * 1001}, "cursor"),
        ("/runs", {"status": ""}, "status"),
        ("/runs", {"limit": " 5"}, "limit"),
        ("/runs", {"limit": "1_0"}, "limit"),
        ("/runs", {"limit": "9" * 5000}, "limit"),
        ("/runs/RUN/steps/" + "s" * 65 + "/logs", {}, "step"),
        ("/runs/RUN/steps/a/logs", {"follow": "yes"}, "follow"),
        ("/runs/RUN/steps/a/logs", {"after": "+1"}, "after"),
    ],
)
async def test_parameters_past_their_bounds_are_refused_naming_them(
    api: Running, path: str, params: dict[str, str], name: str
) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    run = (await api.client.post("/runs", json={"workflow": "plain"})).json()["id"]
    answer = await api.client.get(path.replace("RUN", run), params=params)
    assert answer.status_code == 422, answer.text
    assert [detail["path"] for detail in answer.json()["error"]["details"]] == [name]


async def test_signal_names_are_bounded(api: Running) -> None:
    await api.client.post("/workflows", content=FLOW, headers=YAML)
    run = (await api.client.post("/runs", json={"workflow": "plain"})).json()["id"]
    longest = schemas.SIGNAL_NAME["maxLength"]
    assert (await api.client.post(f"/runs/{run}/signals/{'s' * longest}")).status_code == 202
    refused = await api.client.post(f"/runs/{run}/signals/{'s' * (longest + 1)}")
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["path"] == "name"


async def test_each_instance_serves_the_document_of_its_configuration(database_url: str) -> None:
    service, task = await start_service(database_url, api_token="secret")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            assert (await client.get("/openapi.json")).status_code == 401
            secured = await client.get("/openapi.json", headers={"Authorization": "Bearer secret"})
            assert secured.json() == document(secured=True)
            assert secured.json()["security"] == [{"bearer": []}]
    finally:
        await stop_service(service, task)
    service, task = await start_service(database_url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            served = (await client.get("/openapi.json")).json()
    finally:
        await stop_service(service, task)
    assert served == document(secured=False)
    assert "security" not in served and "securitySchemes" not in served["components"]
    for operations in served["paths"].values():
        for operation in operations.values():
            assert "401" not in operation["responses"] and "security" not in operation

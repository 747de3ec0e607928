"""An HTTP client for API tests that checks every answer against /openapi.json's schemas:
a response a test receives that the document does not describe fails the test."""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from executor.http.openapi import COMPONENTS, document

# An artifact's name is the rest of the download's path, slashes included.
_REST = "/artifacts/{step}/{name}"


def _pattern(path: str) -> re.Pattern[str]:
    rest = r"/artifacts/[^/]+/.+" if path.endswith(_REST) else ""
    return re.compile("^" + re.sub(r"\{[^}]+\}", r"[^/]+", path.removesuffix(_REST)) + rest + "$")


_TEMPLATES: list[tuple[re.Pattern[str], str]] = [(_pattern(path), path) for path in document()["paths"]]


def template_of(path: str) -> str | None:
    for pattern, template in _TEMPLATES:
        if pattern.match(path):
            return template
    return None


def check(response: httpx.Response) -> None:
    request = response.request
    template = template_of(request.url.path)
    if template is None:
        assert response.status_code in (404, 401), f"{request.url.path} is not in the OpenAPI document"
        return
    operations = document()["paths"][template]
    operation = operations.get(request.method.lower())
    if operation is None:
        assert response.status_code in (405, 401), f"{request.method} {template} is not in the document"
        return
    described = operation["responses"].get(str(response.status_code))
    assert described is not None, f"{request.method} {template} answered {response.status_code}, undocumented"
    content = described.get("content", {})
    kind = response.headers.get("content-type", "").split(";")[0]
    if kind == "text/event-stream":
        assert "text/event-stream" in content
        return
    schema_ref = content.get("application/json", {}).get("schema")
    if schema_ref and "$ref" in schema_ref:
        schema = COMPONENTS[schema_ref["$ref"].rsplit("/", 1)[1]]
        errors = list(Draft202012Validator(schema).iter_errors(response.json()))
        assert not errors, f"{request.method} {template} {response.status_code}: {errors[0].message}"


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)
        self.received = 0

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, path, **kwargs)
        if "stream" not in kwargs:
            check(response)
        self.received += 1
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def close(self) -> None:
        await self.http.aclose()

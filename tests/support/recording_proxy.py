"""A recording reverse proxy, and a checker of the requests it recorded against an OpenAPI
document: put between a client (the remote CLI) and the service, it shows that every request
the client sends is one the service's own ``/openapi.json`` allows (the path template and
method, each query parameter against its schema, the body against the request body's schema,
the bearer token where the document asks for one). Nothing in the product knows about it.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from jsonschema import Draft202012Validator, FormatChecker
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tests.support.waiting import wait_until

# --- checking requests against the OpenAPI document -------------------------------------


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # decoded, as the service routes it
    query: str
    headers: dict[str, str]
    body: bytes


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value.upper() and moment.tzinfo is not None


FORMATS = FormatChecker()
FORMATS.checks("date-time")(_date_time)


def _operation(document: dict[str, Any], request: Recorded) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The path template (the most literal one that matches), its operation, the path values."""
    matches = []
    for template in document["paths"]:
        names = re.findall(r"\{([^}]+)\}", template)
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
        if template.endswith("/artifacts/{step}/{name}"):  # a name is the rest of the path
            pattern = pattern.removesuffix("([^/]+)$") + "(.+)$"
        found = re.match(pattern, request.path)
        if found:
            matches.append((len(names), template, dict(zip(names, found.groups(), strict=True))))
    assert matches, f"{request.method} {request.path}: no path of the document matches"
    _, template, values = min(matches, key=lambda m: m[0])
    operation = document["paths"][template].get(request.method.lower())
    assert operation is not None, f"{request.method} {template} is not in the document"
    return template, operation, values


def _coerce(text: str, schema: dict[str, Any]) -> Any:
    kinds = schema.get("type")
    if kinds == "integer" and re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if kinds == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def _schema_errors(schema: dict[str, Any], value: Any, document: dict[str, Any]) -> list[str]:
    # The components ride along, so that a `$ref` into them resolves.
    root = {**schema, "components": document["components"]}
    validator = Draft202012Validator(root, format_checker=FORMATS)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(value)]


def violations(document: dict[str, Any], request: Recorded, auth: bool = True) -> list[str]:
    """What in ``request`` the document does not allow (nothing: an empty list); ``auth``:
    the bearer token too, where the document asks for one."""
    template, operation, values = _operation(document, request)
    where = f"{request.method} {template}"
    problems = []
    parameters = operation.get("parameters", [])
    for parameter in parameters:
        if parameter["in"] == "path":
            value = _coerce(values[parameter["name"]], parameter["schema"])
            for error in _schema_errors(parameter["schema"], value, document):
                problems.append(f"{where}: path {parameter['name']}: {error}")
    declared = {p["name"]: p for p in parameters if p["in"] == "query"}
    given = parse_qsl(request.query, keep_blank_values=True)
    names = [name for name, _ in given]
    for name, text in given:
        if name not in declared:
            problems.append(f"{where}: query parameter {name!r} is not in the document")
            continue
        if names.count(name) > 1:
            problems.append(f"{where}: query parameter {name!r} given twice")
        value = _coerce(text, declared[name]["schema"])
        for error in _schema_errors(declared[name]["schema"], value, document):
            problems.append(f"{where}: query {name}={text!r}: {error}")
    for name, parameter in declared.items():
        if parameter.get("required") and name not in names:
            problems.append(f"{where}: required query parameter {name!r} missing")
    body = operation.get("requestBody")
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if body is None:
        if request.body:
            problems.append(f"{where}: a body where the document has none")
    elif not request.body:
        if body.get("required"):
            problems.append(f"{where}: the required body is missing")
    elif kind not in body["content"]:
        problems.append(f"{where}: content type {kind!r} is not one of {sorted(body['content'])}")
    elif kind == "application/json":
        value = json.loads(request.body)
        for error in _schema_errors(body["content"][kind]["schema"], value, document):
            problems.append(f"{where}: body {error}")
    else:
        request.body.decode("utf-8")  # YAML: a string
    secured = operation.get("security", document.get("security")) or []
    authorization = request.headers.get("authorization", "")
    if auth and secured and not authorization.startswith("Bearer "):
        problems.append(f"{where}: no bearer token where the document asks for one")
    return problems


# --- the recording reverse proxy ------------------------------------------------------------

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RecordingProxy:
    """Forwards every request to ``upstream`` (answers streamed through, Server-Sent Events
    included) and records it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.recorded: list[Recorded] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RecordingProxy:
        self.thread.start()
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.accesslog = None
        config.errorlog = None

        async def start() -> None:
            self.stopped = asyncio.Event()
            self.client = httpx.AsyncClient(timeout=None)
            self.serving = asyncio.ensure_future(serve(self._app, config, shutdown_trigger=self.stopped.wait))  # type: ignore[arg-type]

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        wait_until(self._listening, 10, what="the proxy to listen")
        return self

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
        except OSError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self.stopped is not None
            self.stopped.set()
            await asyncio.wait_for(self.serving, 10)
            await self.client.aclose()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = scope["query_string"].decode("latin-1")
        self.recorded.append(Recorded(request.method, unquote(scope["path"]), query, headers, body))
        target = self.upstream + scope["raw_path"].decode("latin-1") + (f"?{query}" if query else "")
        upstream = await self.client.send(
            self.client.build_request(
                request.method,
                target,
                headers={k: v for k, v in headers.items() if k not in HOP_BY_HOP},
                content=body,
            ),
            stream=True,
        )
        response: Response = StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP},
            background=BackgroundTask(upstream.aclose),
        )
        await response(scope, receive, send)

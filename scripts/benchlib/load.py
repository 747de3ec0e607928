"""HTTP towards the service: registering a workflow and posting one run (httpx), and the bare
keep-alive client that sends bursts of POST /runs, POST /runs/batch and GET /runs/{id}."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from scripts.benchlib.errors import BenchError

CONNECTIONS = 32  # concurrent HTTP connections submitting runs
GET_CONNECTIONS = 16
BATCH_CONNECTIONS = 2  # concurrent POST /runs/batch requests


def register(url: str, flow: str) -> None:
    with httpx.Client(timeout=60, trust_env=False) as client:
        response = client.post(f"{url}/workflows", content=flow, headers={"content-type": "application/yaml"})
    if response.status_code not in (200, 201):
        raise BenchError(f"registering a workflow: {response.status_code} {response.text}")


def post_run(client: httpx.Client, url: str, workflow: str) -> str:
    response = client.post(f"{url}/runs", json={"workflow": workflow})
    if response.status_code != 201:
        raise BenchError(f"POST /runs answered {response.status_code}: {response.text}")
    return response.json()["id"]


class Connection:
    """A bare HTTP/1.1 keep-alive connection for load generation. httpx cost ~5 ms of CPU
    per request here, more than Executor spends on the request and its run: a load
    generator that heavy on a 2-core machine measures itself."""

    def __init__(self, url: str) -> None:
        self.address = urlsplit(url)
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        if self.stream is None:
            self.stream = await asyncio.open_connection(self.address.hostname, self.address.port)
        reader, writer = self.stream
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(data)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        writer.write(head.encode() + b"\r\n" + data)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await reader.readexactly(length)

    def close(self) -> None:
        if self.stream is not None:
            self.stream[1].close()


async def burst(
    count: int, connections: int, send: Callable[[Callable[[str], Connection], int], Awaitable[Any]]
) -> float:
    """Call ``send(connect, n)`` for n in 0..count-1, ``connections`` at a time (``connect(url)``
    gives the caller's keep-alive connection to ``url``); the seconds it took."""
    pending = iter(range(count))
    opened: list[Connection] = []

    async def worker() -> None:
        mine: dict[str, Connection] = {}

        def connect(url: str) -> Connection:
            if url not in mine:
                mine[url] = Connection(url)
                opened.append(mine[url])
            return mine[url]

        for n in pending:
            await send(connect, n)

    began = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(min(connections, count))))
        return time.perf_counter() - began
    finally:
        for connection in opened:
            connection.close()


def submit(urls: list[str], workflow: str, count: int) -> tuple[list[str], float]:
    """POST ``count`` runs round-robin over ``urls``; their ids and the seconds it took."""
    ids = [""] * count

    async def send(connect: Callable[[str], Connection], n: int) -> None:
        status, body = await connect(urls[n % len(urls)]).request("POST", "/runs", {"workflow": workflow})
        if status != 201:
            raise BenchError(f"POST /runs answered {status}: {body.decode(errors='replace')}")
        ids[n] = json.loads(body)["id"]

    seconds = asyncio.run(burst(count, CONNECTIONS, send))
    return ids, seconds


def submit_batched(urls: list[str], workflow: str, count: int, per_request: int) -> tuple[list[str], float]:
    """POST ``count`` runs as POST /runs/batch requests of ``per_request`` runs each (the last
    may hold fewer), ``BATCH_CONNECTIONS`` requests at a time, round-robin over ``urls``; the
    runs' ids and the seconds it took."""
    ids = [""] * count
    starts = range(0, count, per_request)

    async def send(connect: Callable[[str], Connection], n: int) -> None:
        first = starts[n]
        runs = [{"workflow": workflow}] * min(per_request, count - first)
        status, body = await connect(urls[n % len(urls)]).request("POST", "/runs/batch", {"runs": runs})
        if status != 200:
            raise BenchError(f"POST /runs/batch answered {status}: {body.decode(errors='replace')}")
        for result in json.loads(body)["results"]:
            if result["status"] != 201:
                raise BenchError(f"POST /runs/batch refused run {result['index']}: {result}")
            ids[first + result["index"]] = result["run"]["id"]

    seconds = asyncio.run(burst(len(starts), BATCH_CONNECTIONS, send))
    return ids, seconds


def get_runs(url: str, ids: list[str], count: int) -> float:
    """GET /runs/{id} ``count`` times over the given runs; requests per second."""

    async def send(connect: Callable[[str], Connection], n: int) -> None:
        status, body = await connect(url).request("GET", f"/runs/{ids[n % len(ids)]}")
        if status != 200:
            raise BenchError(f"GET /runs/{{id}} answered {status}: {body.decode(errors='replace')}")

    return count / asyncio.run(burst(count, GET_CONNECTIONS, send))

"""Artifacts over HTTP, on both backends and both storages (database chunks, and
``--artifacts-dir``): the list, whole downloads with their headers, byte ranges, ETag and
304, HEAD, a for_each step's items, what is not there, and names that try to get out."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from executor.artifacts import CHUNK
from tests.api.conftest import Running, start_service, stop_service
from tests.support.api import ApiClient
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
UNICODE = "résumé d'été.txt"
# Deterministic bytes spanning several database chunks (1 MiB each), its end mid-chunk.
SEQUENCE = "".join(f"{n}\n" for n in range(1, 500_001)).encode()
FLOW = """
name: arts
inputs: {type: object, properties: {work: {type: string}}}
steps:
  - id: build
    action: shell
    with:
      cwd: "{{ inputs.work }}"
      command: |
        printf 'hello\\n' > "$EXECUTOR_ARTIFACTS_DIR/report.txt"
        mkdir -p "$EXECUTOR_ARTIFACTS_DIR/dist" extra
        printf '<script>alert(1)</script>' > "$EXECUTOR_ARTIFACTS_DIR/dist/page.html"
        seq 1 500000 > "$EXECUTOR_ARTIFACTS_DIR/numbers.txt"
        printf 'accents' > "$EXECUTOR_ARTIFACTS_DIR/résumé d'été.txt"
        : > "$EXECUTOR_ARTIFACTS_DIR/empty.log"
        printf '{"ok": true}' > extra/result.json
    artifacts: ["extra/*.json"]
  - id: fan
    action: shell
    for_each: [a, b]
    with: {command: "printf 'item {{ item }}' > \\"$EXECUTOR_ARTIFACTS_DIR/out.txt\\""}
"""
EXPECTED = {
    ("build", None, "dist/page.html"): (b"<script>alert(1)</script>", "text/html"),
    ("build", None, "empty.log"): (b"", "application/octet-stream"),
    ("build", None, "extra/result.json"): (b'{"ok": true}', "application/json"),
    ("build", None, "numbers.txt"): (SEQUENCE, "text/plain"),
    ("build", None, "report.txt"): (b"hello\n", "text/plain"),
    ("build", None, UNICODE): (b"accents", "text/plain"),
    ("fan", 0, "out.txt"): (b"item a", "text/plain"),
    ("fan", 1, "out.txt"): (b"item b", "text/plain"),
}


@pytest.fixture(params=["database", "directory"])
async def served(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    """The service keeping artifacts in the database, or in ``--artifacts-dir``."""
    settings = {}
    if request.param == "directory":
        (tmp_path / "kept").mkdir()
        settings["artifacts_dir"] = str(tmp_path / "kept")
    service, task = await start_service(database_url, **settings)
    client = ApiClient(f"http://127.0.0.1:{service.port}")
    try:
        yield Running(service, client)
    finally:
        await client.close()
        await stop_service(service, task)


async def produce(api: Running, tmp_path: Path) -> str:
    """A succeeded run of FLOW; its id."""
    registered = await api.client.post("/workflows", content=FLOW, headers=YAML)
    assert registered.status_code in (200, 201), registered.text
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    started = await api.client.post("/runs", json={"workflow": "arts", "input": {"work": str(work)}})
    assert started.status_code == 201, started.text
    run_id: str = started.json()["id"]

    async def final() -> dict[str, Any] | None:
        run: dict[str, Any] = (await api.client.get(f"/runs/{run_id}")).json()
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    run = await async_wait_until(final, 30, what="the run to finish")
    assert run["status"] == "succeeded", run
    return run_id


def url(run_id: str, step: str, name: str, item: int | None = None) -> str:
    return f"/runs/{run_id}/artifacts/{step}/{quote(name)}" + ("" if item is None else f"?item={item}")


async def test_a_run_lists_its_artifacts_and_each_downloads_whole(served: Running, tmp_path: Path) -> None:
    run_id = await produce(served, tmp_path)
    listed = await served.client.get(f"/runs/{run_id}/artifacts")
    assert listed.status_code == 200
    artifacts = listed.json()["artifacts"]
    assert {(a["step"], a["item"], a["name"]) for a in artifacts} == set(EXPECTED)
    for artifact in artifacts:
        content, media_type = EXPECTED[(artifact["step"], artifact["item"], artifact["name"])]
        assert artifact["size"] == len(content)
        assert artifact["sha256"] == hashlib.sha256(content).hexdigest()
        assert artifact["media_type"] == media_type and artifact["attempt"] == 1
        assert artifact["url"] == url(run_id, artifact["step"], artifact["name"], artifact["item"])
        answer = await served.client.get(artifact["url"])
        assert answer.status_code == 200, answer.text
        assert answer.content == content
        headers = answer.headers
        assert headers["content-type"] == media_type, "no charset added: the bytes may have none"
        assert headers["content-length"] == str(len(content))
        assert headers["etag"] == f'"{artifact["sha256"]}"'
        assert headers["accept-ranges"] == "bytes"
        assert headers["content-disposition"].startswith("attachment; ")
        # Whatever it holds, a browser neither sniffs nor runs it as a page of this origin.
        assert headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in headers["content-security-policy"]


async def test_a_name_of_any_characters_is_saved_under_its_last_part(served: Running, tmp_path: Path) -> None:
    run_id = await produce(served, tmp_path)
    answer = await served.client.get(url(run_id, "build", UNICODE))
    assert answer.content == b"accents"
    assert answer.headers["content-disposition"] == (
        "attachment; filename=\"r_sum_ d'_t_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20d%27%C3%A9t%C3%A9.txt"
    )
    nested = await served.client.get(url(run_id, "build", "dist/page.html"))
    assert nested.headers["content-disposition"].endswith("filename*=UTF-8''page.html")
    # A slash sent encoded names the same artifact.
    encoded = await served.client.get(f"/runs/{run_id}/artifacts/build/dist%2Fpage.html")
    assert encoded.content == b"<script>alert(1)</script>"


async def test_one_byte_range_is_served_with_206(served: Running, tmp_path: Path) -> None:
    run_id = await produce(served, tmp_path)
    numbers = url(run_id, "build", "numbers.txt")
    size = len(SEQUENCE)
    etag = (await served.client.get(numbers, headers={"Range": "bytes=0-0"})).headers["etag"]

    async def ranged(header: str, **extra: str) -> httpx.Response:
        return await served.client.get(numbers, headers={"Range": header, **extra})

    cases = {
        # across the first chunk boundary
        f"bytes={CHUNK - 10}-{CHUNK + 9}": (CHUNK - 10, CHUNK + 10),
        "bytes=0-0": (0, 1),
        f"bytes={2 * CHUNK}-": (2 * CHUNK, size),  # open-ended
        "bytes=-100": (size - 100, size),  # the last 100
        f"bytes=-{size + 50}": (0, size),  # longer than the whole: the whole
        f"bytes={size - 5}-{size + 1000}": (size - 5, size),  # past the end: up to it
        f"bytes={size - 1}-": (size - 1, size),
        "BYTES=10-19": (10, 20),  # the unit's case does not matter
    }
    for header, (start, end) in cases.items():
        answer = await ranged(header)
        assert answer.status_code == 206, (header, answer.text)
        assert answer.content == SEQUENCE[start:end], header
        assert answer.headers["content-range"] == f"bytes {start}-{end - 1}/{size}", header
        assert answer.headers["content-length"] == str(end - start), header
        assert answer.headers["etag"] == etag
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0", f"bytes={'9' * 60}-"):
        refused = await ranged(header)
        assert refused.status_code == 416, header
        assert refused.headers["content-range"] == f"bytes */{size}"
        assert refused.json()["error"]["code"] == "range_not_satisfiable"
    # Several ranges, another unit, nonsense, an inverted range: the whole, 200.
    for header in ("bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=9-3", "bytes=-", "", "bytes = 1 - 2"):
        whole = await ranged(header)
        assert (whole.status_code, len(whole.content)) == (200, size), header
    # If-Range: the range only while the artifact is still the one the client has.
    assert (await ranged("bytes=0-9", **{"If-Range": etag})).status_code == 206
    stale = await ranged("bytes=0-9", **{"If-Range": '"0000"'})
    assert (stale.status_code, len(stale.content)) == (200, size)


async def test_an_empty_artifact_downloads_and_has_no_range(served: Running, tmp_path: Path) -> None:
    run_id = await produce(served, tmp_path)
    empty = url(run_id, "build", "empty.log")
    whole = await served.client.get(empty)
    assert (whole.status_code, whole.content, whole.headers["content-length"]) == (200, b"", "0")
    assert (await served.client.get(empty, headers={"Range": "bytes=0-"})).status_code == 416
    # The last bytes of nothing: nothing, whole.
    assert (await served.client.get(empty, headers={"Range": "bytes=-5"})).status_code == 200


async def test_if_none_match_answers_304_and_head_sends_no_body(served: Running, tmp_path: Path) -> None:
    run_id = await produce(served, tmp_path)
    report = url(run_id, "build", "report.txt")
    etag = (await served.client.get(report)).headers["etag"]
    for header in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        answer = await served.client.get(report, headers={"If-None-Match": header})
        assert (answer.status_code, answer.content) == (304, b""), header
        assert answer.headers["etag"] == etag
    changed = await served.client.get(report, headers={"If-None-Match": '"other"'})
    assert (changed.status_code, changed.content) == (200, b"hello\n")

    head = await served.client.request("HEAD", report)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == "6" and head.headers["etag"] == etag
    assert head.headers["content-type"] == "text/plain"
    ranged = await served.client.request("HEAD", report, headers={"Range": "bytes=1-2"})
    assert ranged.status_code == 206 and ranged.headers["content-range"] == "bytes 1-2/6"
    assert ranged.headers["content-length"] == "2"


async def test_a_for_each_step_keeps_each_items_own(served: Running, tmp_path: Path) -> None:
    run_id = await produce(served, tmp_path)
    for item, content in ((0, b"item a"), (1, b"item b")):
        assert (await served.client.get(url(run_id, "fan", "out.txt", item))).content == content
    assert (await served.client.get(url(run_id, "fan", "out.txt"))).status_code == 404, "no step's own"
    missing = await served.client.get(url(run_id, "fan", "out.txt", 2))
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"run {run_id} has no artifact 'out.txt' of step fan item 2"
    for bad in ("-1", "x", "", "1.0", "99999999999", "²"):
        refused = await served.client.get(f"/runs/{run_id}/artifacts/fan/out.txt?item={quote(bad)}")
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["details"][0]["path"] == "item"


async def test_what_is_not_there_is_a_404(served: Running, tmp_path: Path) -> None:
    run_id = await produce(served, tmp_path)
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in (
        f"/runs/{unknown}/artifacts",
        "/runs/not-a-run/artifacts",
        f"/runs/{unknown}/artifacts/build/report.txt",
        f"/runs/{run_id}/artifacts/nope/report.txt",
        f"/runs/{run_id}/artifacts/build/nope.txt",
        f"/runs/{run_id}/artifacts/build/REPORT.TXT",
        f"/runs/{run_id}/artifacts/build/report.txt/",
    ):
        answer = await served.client.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found", path
    assert (await served.client.get(f"/runs/{unknown}/artifacts")).json()["error"]["message"] == (
        f"no run {unknown}"
    )
    # A run that left none lists none; one whose step failed, none of that step's.
    other = await served.client.post("/runs", json={"workflow": "arts", "input": {"work": "/nonexistent"}})
    failed = other.json()["id"]
    await async_wait_until(lambda: _status_is(served, failed, "failed"), 30, what="the run to fail")
    listed = (await served.client.get(f"/runs/{failed}/artifacts")).json()["artifacts"]
    assert [(a["step"], a["item"]) for a in listed] == [("fan", 0), ("fan", 1)]


async def _status_is(api: Running, run_id: str, status: str) -> bool:
    return bool((await api.client.get(f"/runs/{run_id}")).json()["status"] == status)


async def raw_get(port: int | None, target: bytes) -> tuple[int, dict[str, str], bytes]:
    """GET ``target`` exactly as given (no client normalising ``..`` or re-encoding)."""
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


async def test_names_that_try_to_get_out_are_refused_cleanly(served: Running, tmp_path: Path) -> None:
    run_id = await produce(served, tmp_path)
    kept = tmp_path / "kept" if (tmp_path / "kept").is_dir() else None
    base = f"/runs/{run_id}/artifacts/build/".encode()
    attempts = [
        b"..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        b"../../../../etc/passwd",
        b"%2Fetc%2Fpasswd",
        b"%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        b"..%5C..%5Cetc%5Cpasswd",
        b"dist/../report.txt",
        b"./report.txt",
        b"%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",  # overlong UTF-8 dots
        b"%ff%fe",  # not UTF-8 at all
        b"report.txt%00",  # NUL
        b"%00",
        b"a" * 5000,
        b"%2F" * 600,
    ]
    if kept is not None:  # the real file of report.txt, reached by a path relative to the name
        files = sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*") if p.is_file())
        assert files and all(f.startswith(run_id + "/") for f in files)
        attempts += [b"..%2F..%2F" + f.encode() for f in files]
        attempts += [b"../../" + f.encode() for f in files]
    for name in attempts:
        status, headers, body = await raw_get(served.service.port, base + name)
        assert status in (400, 404, 422), (name, status, body[:300])
        assert b"root:" not in body and b"hello" not in body, name
        if status != 400:  # 400: the HTTP server refused the request line itself
            assert headers["content-type"] == "application/json", name
            error = json.loads(body)["error"]
            if status == 422:
                assert error["details"][0]["path"] == "name", name
    # The route's own neighbours: no step, a step that is a traversal.
    for target in (f"/runs/{run_id}/artifacts/..%2F..%2Fbuild/report.txt", f"/runs/{run_id}/artifacts/build"):
        status, _, body = await raw_get(served.service.port, target.encode())
        assert status == 404 and json.loads(body)["error"]["code"] == "not_found", target


async def test_directory_storage_keeps_files_by_run_and_id(database_url: str, tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.mkdir()
    service, task = await start_service(database_url, artifacts_dir=str(kept))
    api = Running(service, ApiClient(f"http://127.0.0.1:{service.port}"))
    try:
        run_id = await produce(api, tmp_path)
        files = sorted(p for p in kept.rglob("*") if p.is_file())
        assert [p.parent for p in files] == [kept / run_id] * len(EXPECTED), (
            "one file per artifact, no temporaries"
        )
        assert sorted(p.stat().st_size for p in files) == sorted(len(c) for c, _ in EXPECTED.values())
    finally:
        await api.client.close()
        await stop_service(service, task)
    # An instance without the directory cannot serve those bytes: a clear 503, not a 200 cut short.
    service, task = await start_service(database_url)
    client = ApiClient(f"http://127.0.0.1:{service.port}")
    try:
        listed = await client.get(f"/runs/{run_id}/artifacts")
        assert len(listed.json()["artifacts"]) == len(EXPECTED)
        answer = await client.get(url(run_id, "build", "report.txt"))
        assert answer.status_code == 503
        assert "--artifacts-dir" in answer.json()["error"]["message"]
    finally:
        await client.close()
        await stop_service(service, task)

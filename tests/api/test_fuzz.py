"""Generated requests against a real service process: thousands of them, and not one 5xx;
afterwards the database is consistent (every run has all its steps, nothing orphaned)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.process import CLI, Server, clean_env

FLOW = """
name: fuzzed
inputs: {type: object, properties: {n: {type: integer, default: 1}, s: {type: string}}}
steps:
  - {id: a, action: noop, with: {output: "{{ inputs.n }}"}}
  - {id: w, action: wait, needs: [a], with: {signal: go, timeout: 1s}}
  - {id: b, action: noop, needs: [w], trigger_rule: all_done}
"""

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
run_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"workflow": st.sampled_from(["fuzzed", "missing", "", "x" * 100])},
        optional={
            "input": st.one_of(
                json_values, st.fixed_dictionaries({}, optional={"n": json_values, "s": json_values})
            ),
            "version": st.one_of(st.integers(-3, 3), json_values),
            "idempotency_key": st.one_of(st.text(max_size=8), json_values),
            "priority": st.one_of(st.integers(-2000, 2000), json_values),
            "extra": json_values,
        },
    ),
)
# Path segments are sent percent-encoded, as a client would send them.
ids = st.one_of(st.uuids().map(str), st.text(max_size=40).map(lambda t: quote(t, safe="")), st.just("RUN"))
names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12).map(
    lambda t: quote(t, safe="")
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    kind = draw(st.sampled_from(["run", "list", "get", "action", "signal", "logs", "workflow", "workflows"]))
    content_type = draw(st.sampled_from(["application/json", "text/plain", "application/yaml", None]))
    headers = {"content-type": content_type} if content_type else {}
    run = draw(ids)
    if kind == "run":
        raw = draw(
            st.one_of(run_bodies.map(json.dumps), st.binary(max_size=50).map(lambda b: b.decode("latin-1")))
        )
        return "POST", "/runs", {"content": raw.encode("utf-8", "surrogatepass"), "headers": headers}
    if kind == "list":
        params = draw(
            st.dictionaries(
                st.sampled_from(["limit", "status", "cursor", "workflow", "other"]),
                st.text(max_size=12),
                max_size=4,
            )
        )
        return "GET", "/runs", {"params": params}
    if kind == "get":
        return "GET", f"/runs/{run}", {}
    if kind == "action":
        action = draw(st.sampled_from(["cancel", "pause", "resume", "retry", "trigger"]))
        return "POST", f"/runs/{run}/{action}", {}
    if kind == "signal":
        body = draw(st.one_of(st.just(b""), json_values.map(lambda v: json.dumps(v).encode())))
        return "POST", f"/runs/{run}/signals/{draw(names)}", {"content": body, "headers": headers}
    if kind == "logs":
        params = draw(
            st.dictionaries(st.sampled_from(["item", "after", "follow"]), st.text(max_size=6), max_size=3)
        )
        params.pop("follow", None)
        return "GET", f"/runs/{run}/steps/{draw(names)}/logs", {"params": params}
    if kind == "workflow":
        text = draw(st.one_of(st.just(FLOW), st.text(max_size=80), json_values.map(json.dumps)))
        return "POST", "/workflows", {"content": text.encode("utf-8", "surrogatepass"), "headers": headers}
    return (
        "GET",
        draw(
            st.sampled_from(
                ["/workflows", "/workflows/fuzzed", "/workflows/fuzzed/versions/1", "/workflows/x/versions/0"]
            )
        ),
        {},
    )


# The serving process, a client of it, the id of a run it has, and its working folder.
Fuzzed = tuple[Server, httpx.Client, str, Path]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    workdir = tmp_path_factory.mktemp("fuzz")
    server = Server(CLI, workdir, ["--poll-interval", "100ms"], clean_env()).start().wait_running()
    client = httpx.Client(base_url=server.url, timeout=30)
    assert client.post(
        "/workflows", content=FLOW, headers={"content-type": "application/yaml"}
    ).status_code in (200, 201)
    started = client.post("/runs", json={"workflow": "fuzzed"}).json()["id"]
    yield server, client, started, workdir
    client.close()
    server.signal()
    assert server.wait_exit(30) == 0
    server.stop()


@pytest.mark.slow  # thousands of requests
@settings(max_examples=2500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(request=requests(), use_real_run=st.booleans())
def test_no_request_gets_a_5xx(
    service: Fuzzed, request: tuple[str, str, dict[str, Any]], use_real_run: bool
) -> None:
    server, client, real_run, _ = service
    method, path, kwargs = request
    if use_real_run and path.startswith("/runs/"):
        parts = path.split("/")
        parts[2] = real_run
        path = "/".join(parts)
    response = client.request(method, path or "/", **kwargs)
    assert response.status_code < 500, (method, path, kwargs, response.status_code, response.text)
    # httpx sends well-formed HTTP, so the application answers every request: never a
    # redirect (a trailing slash is a 404 naming the route), every error in the JSON shape.
    assert not 300 <= response.status_code < 400, (method, path, response.headers)
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"code", "message"}, (method, path, response.text)


def test_the_database_is_consistent_afterwards(service: Fuzzed) -> None:
    _, client, _, workdir = service
    db = sqlite3.connect(Path(workdir) / "executor.db")
    orphans = db.execute("SELECT count(*) FROM steps WHERE run_id NOT IN (SELECT id FROM runs)").fetchone()[0]
    assert orphans == 0
    per_run = db.execute(
        "SELECT r.id, count(s.id) FROM runs r LEFT JOIN steps s ON s.run_id = r.id AND s.item_index = -1 GROUP BY r.id"
    ).fetchall()
    assert per_run and all(count == 3 for _, count in per_run), "every run has all its steps"
    unknown = db.execute(
        "SELECT count(*) FROM runs r LEFT JOIN workflows w ON w.name = r.workflow_name AND w.version = r.workflow_version "
        "WHERE w.name IS NULL"
    ).fetchone()[0]
    assert unknown == 0
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert client.get("/health").json() == {"state": "running"}

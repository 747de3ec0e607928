"""POST /runs/batch over HTTP, on both databases: a result per run in order, a bad run
refused alone, idempotency keys within and across batches, the whole request refused when
it breaks the schema (naming the field), the 1,000 limit, and nothing half-written when
the transaction fails."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from typing import Any

import psycopg
import pytest

from tests.api.conftest import Running
from tests.support.waiting import async_wait_until

YAML = {"content-type": "application/yaml"}
QUICK = "name: quick\nsteps:\n  - {id: a, action: noop, with: {output: done}}\n"
TYPED = """
name: typed
inputs: {type: object, required: [n], properties: {n: {type: integer}, tag: {type: string, default: x}}}
steps:
  - {id: a, action: wait, with: {signal: go}}
"""


async def register(api: Running, *flows: str) -> None:
    for flow in flows:
        response = await api.client.post("/workflows", content=flow, headers=YAML)
        assert response.status_code in (200, 201), response.text


async def batch(api: Running, runs: Any, status: int = 200) -> Any:
    response = await api.client.post("/runs/batch", json={"runs": runs})
    assert response.status_code == status, response.text
    return response.json()


async def count(api: Running) -> int:
    answer: int = (await api.client.get("/runs/count")).json()["count"]
    return answer


async def test_each_run_gets_its_result_in_order_and_the_runs_start(api: Running) -> None:
    await register(api, QUICK, TYPED)
    runs = [
        {"workflow": "quick"},
        {"workflow": "typed", "input": {"n": 1}, "priority": 7},
        {"workflow": "quick", "version": 1, "input": {}},
    ]
    results = (await batch(api, runs))["results"]
    assert [(r["index"], r["status"]) for r in results] == [(0, 201), (1, 201), (2, 201)]
    assert [r["run"]["workflow"] for r in results] == ["quick", "typed", "quick"]
    typed = results[1]["run"]
    assert typed["input"] == {"n": 1, "tag": "x"} and typed["priority"] == 7, "defaults applied"
    assert typed["trigger"] == {"type": "api"}
    assert len({r["run"]["id"] for r in results}) == 3
    quick = [results[0]["run"]["id"], results[2]["run"]["id"]]

    async def both_succeeded() -> bool:
        return all([await _status(api, run_id, "succeeded") for run_id in quick])

    await async_wait_until(both_succeeded, what="the quick runs to succeed")
    assert await _status(api, typed["id"], "running", "pending")
    assert await count(api) == 3


async def test_a_refused_run_gets_its_own_error_and_the_others_start(api: Running) -> None:
    await register(api, QUICK, TYPED)
    runs = [
        {"workflow": "quick", "idempotency_key": "a"},
        {"workflow": "nope"},
        {"workflow": "typed", "input": {"n": "three"}},
        {"workflow": "quick", "version": 9},
        {"workflow": "typed", "input": {}},
        {"workflow": "typed", "input": {"n": 2}},
    ]
    results = (await batch(api, runs))["results"]
    assert [r["status"] for r in results] == [201, 404, 422, 404, 422, 201]
    unknown, bad, version, missing = (results[i]["error"] for i in (1, 2, 3, 4))
    assert unknown["code"] == "not_found" and unknown["details"][0]["path"] == "$.runs[1].workflow"
    assert bad["code"] == "invalid_input" and bad["details"] == [
        {"path": "$.runs[2].input.n", "message": "'three' is not of type 'integer'"}
    ]
    assert "$.runs[2].input.n" in bad["message"]
    assert version["details"][0]["path"] == "$.runs[3].version" and "version 9" in version["message"]
    assert missing["details"][0]["path"] == "$.runs[4].input" and "'n' is a required" in missing["message"]
    assert all("run" not in results[i] for i in (1, 2, 3, 4))
    started = {results[i]["run"]["id"] for i in (0, 5)}
    listed = {run["id"] for run in (await api.client.get("/runs")).json()["runs"]}
    assert listed == started, "exactly the runs answered as started exist"


async def test_an_idempotency_key_gives_one_run_within_a_batch_and_across_requests(api: Running) -> None:
    await register(api, QUICK, TYPED)
    first = (
        await batch(
            api,
            [
                {"workflow": "quick", "idempotency_key": "k1"},
                {"workflow": "quick", "idempotency_key": "k1", "priority": 5},
                {"workflow": "typed", "input": {"n": 1}, "idempotency_key": "k1"},  # another workflow's key
                {"workflow": "typed", "input": {"n": "x"}, "idempotency_key": "k2"},  # refused: not taken
                {"workflow": "typed", "input": {"n": 2}, "idempotency_key": "k2"},
            ],
        )
    )["results"]
    assert [r["status"] for r in first] == [201, 200, 201, 422, 201]
    assert first[1]["run"]["id"] == first[0]["run"]["id"] and first[1]["run"]["priority"] == 0
    assert first[2]["run"]["id"] != first[0]["run"]["id"]
    assert first[4]["run"]["input"] == {"n": 2, "tag": "x"}
    again = (
        await batch(
            api,
            [
                {"workflow": "typed", "input": {"n": 9}, "idempotency_key": "k2"},
                {"workflow": "quick", "idempotency_key": "k3"},
                {"workflow": "quick", "idempotency_key": "k1"},
            ],
        )
    )["results"]
    assert [r["status"] for r in again] == [200, 201, 200]
    assert again[0]["run"]["id"] == first[4]["run"]["id"] and again[0]["run"]["input"] == {"n": 2, "tag": "x"}
    assert again[2]["run"]["id"] == first[0]["run"]["id"]
    single = await api.client.post("/runs", json={"workflow": "quick", "idempotency_key": "k3"})
    assert single.status_code == 200 and single.json()["id"] == again[1]["run"]["id"]
    assert await count(api) == 4


@pytest.mark.parametrize(
    ("body", "status", "path"),
    [
        ({}, 422, "$"),
        ({"runs": {"workflow": "quick"}}, 422, "$.runs"),
        ({"runs": []}, 422, "$.runs"),
        ({"runs": [{"workflow": "quick"}], "dry_run": True}, 422, "$"),
        ({"runs": [{"workflow": "quick"}, 5]}, 422, "$.runs[1]"),
        ({"runs": [{"workflow": "quick"}, {"workflow": "quick", "inputs": {}}]}, 422, "$.runs[1]"),
        ({"runs": [{"workflow": "quick"}, {"input": {}}]}, 422, "$.runs[1]"),
        ({"runs": [{"workflow": "quick", "priority": 5000}]}, 422, "$.runs[0].priority"),
        ({"runs": [{"workflow": "quick", "version": 0}]}, 422, "$.runs[0].version"),
        ({"runs": [{"workflow": "quick", "input": [1]}]}, 422, "$.runs[0].input"),
        ({"runs": [{"workflow": "a\u0000b"}]}, 422, "$.runs[0].workflow"),
        ({"runs": [{"workflow": "quick", "idempotency_key": ""}]}, 422, "$.runs[0].idempotency_key"),
    ],
)
async def test_a_body_that_breaks_the_schema_is_refused_whole_naming_the_field(
    api: Running, body: dict[str, Any], status: int, path: str
) -> None:
    await register(api, QUICK)
    response = await api.client.post("/runs/batch", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert any(d["path"] == path for d in error["details"]), error
    assert await count(api) == 0, "nothing started"


async def test_a_body_that_is_no_json_or_not_sent_as_json_is_refused(api: Running) -> None:
    await register(api, QUICK)
    headers = {"content-type": "application/json"}
    broken = await api.client.post("/runs/batch", content=b'{"runs": [', headers=headers)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "malformed_body"
    text = await api.client.post(
        "/runs/batch", content=b'{"runs": []}', headers={"content-type": "text/plain"}
    )
    assert text.status_code == 415
    assert await count(api) == 0


async def test_at_most_1000_runs_per_request(api: Running) -> None:
    await register(api, QUICK)
    over = await api.client.post("/runs/batch", json={"runs": [{"workflow": "quick"}] * 1001})
    assert over.status_code == 422
    assert any(d["path"] == "$.runs" for d in over.json()["error"]["details"])
    assert (
        over.json()["error"]["message"]
        == "the body is invalid: $.runs: must hold at most 1000 items; it holds 1001"
    )
    assert await count(api) == 0
    results = (await batch(api, [{"workflow": "quick", "input": {"i": i}} for i in range(1000)]))["results"]
    assert [r["index"] for r in results] == list(range(1000))
    assert {r["status"] for r in results} == {201} and [r["run"]["input"]["i"] for r in results] == list(
        range(1000)
    )
    assert await count(api) == 1000
    await async_wait_until(
        lambda: _counted(api, "succeeded", 1000), timeout=60, what="the 1,000 runs to succeed"
    )


async def test_a_failed_transaction_starts_none_of_the_runs(api: Running, database_url: str) -> None:
    """The database refuses the step rows of one run (a trigger stands in for a failing disk):
    none of the batch's runs is kept, the request fails whole with 503, and the same batch
    goes through once the database takes it again."""
    bomb = "name: bomb\nsteps:\n  - {id: boom, action: noop}\n"
    await register(api, QUICK, bomb)
    runs = [{"workflow": "quick"}, {"workflow": "quick", "idempotency_key": "k"}, {"workflow": "bomb"}]
    await _sql(database_url, REFUSE_BOOM[database_url.split(":", 1)[0]])
    refused = await api.client.post("/runs/batch", json={"runs": runs})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "database_unavailable"
    assert await count(api) == 0, "nothing of the batch was written"
    await _sql(
        database_url, "DROP TRIGGER refuse_boom" + ("" if database_url.startswith("sqlite") else " ON steps")
    )
    results = (await batch(api, runs))["results"]
    assert [r["status"] for r in results] == [201, 201, 201]
    assert await count(api) == 3


REFUSE_BOOM = {
    "sqlite": [
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON steps WHEN NEW.step_id = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'the disk is full'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON steps FOR EACH ROW "
        "WHEN (NEW.step_id = 'boom') EXECUTE FUNCTION refuse_boom()",
    ],
}


async def _sql(database_url: str, statements: str | list[str]) -> None:
    """Statements on the test's database, beside the service (autocommitted), in a thread:
    they may wait for a lock that a transaction of the service, on this event loop, holds."""
    await asyncio.to_thread(
        _run_sql, database_url, [statements] if isinstance(statements, str) else statements
    )


def _run_sql(database_url: str, statements: list[str]) -> None:
    if database_url.startswith("sqlite"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30)) as db:
            for statement in statements:
                db.execute(statement)
            db.commit()
        return
    with psycopg.connect(database_url, autocommit=True) as db:
        for statement in statements:
            db.execute(statement)


async def _status(api: Running, run_id: str, *wanted: str) -> bool:
    return (await api.client.get(f"/runs/{run_id}")).json()["status"] in wanted


async def _counted(api: Running, status: str, expected: int) -> bool:
    answer = await api.client.get("/runs/count", params={"status": status})
    found: int = answer.json()["count"]
    return found == expected

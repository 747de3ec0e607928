"""Plans that keep the store's reads flat as the history grows (issue #16): with many runs
kept, a change's prefetch and a page of a workflow's runs of one status walk an index range,
never a whole table. Plans, not timings (those are `scripts/bench --only history`): each
database's own EXPLAIN, on a history made through the store."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing

import psycopg

from executor.statuses import RunStatus
from executor.store import Store, common, queries
from executor.store.records import NewRun, NewStep, RunFilter
from executor.store.url import DatabaseURL
from tests.contract.helpers import workflow

RUNS = 600  # of 10 steps: enough for PostgreSQL's planner to prefer an index to a scan
RARE_EVERY = 100  # every hundredth run is of the workflow `rare`


async def history(store: Store) -> list[str]:
    """RUNS runs of 10 step rows each, of `w` but every RARE_EVERY-th of `rare`; their ids."""
    versions = {name: await workflow(store, name) for name in ("w", "rare")}
    ids = [str(uuid.uuid4()) for _ in range(RUNS)]
    for start in range(0, RUNS, 100):
        async with store.transaction() as txn:
            for n, run_id in enumerate(ids[start : start + 100], start):
                name = "rare" if n % RARE_EVERY == 0 else "w"
                await txn.insert_run(
                    NewRun(id=run_id, workflow_name=name, workflow_version=versions[name], input={})
                )
                await txn.insert_steps(run_id, [NewStep(f"s{i}") for i in range(10)])
    return ids


def plan(database_url: str, sql: str, params: dict[str, object]) -> str:
    database = DatabaseURL.parse(database_url)
    if database.dialect == "sqlite":
        with closing(sqlite3.connect(database.sqlite_path)) as db:
            return "\n".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("ANALYZE")  # as autovacuum does once a table has grown
        return "\n".join(row[0] for row in conn.execute(f"EXPLAIN {sql}", params))


async def test_a_page_of_a_workflows_runs_of_one_status_is_one_index_range(
    store: Store, database_url: str
) -> None:
    await history(store)
    dialect = DatabaseURL.parse(database_url).dialect
    wanted = RunFilter(workflow="rare", status=RunStatus.PENDING)
    query = common.run_filter(queries.load(dialect), "list_runs", wanted, None, lambda ids: ids)
    assert query is not None
    text, params = query

    found = plan(database_url, text, {**params, "limit": 51})

    if dialect == "sqlite":  # no statistics: the plan is the same whatever the history
        assert "runs_by_workflow_status (workflow_name=? AND status=?)" in found, found
        assert "TEMP B-TREE" not in found, found  # read in order, not sorted
    else:
        assert "Seq Scan" not in found, found
    page = await store.list_runs(wanted, limit=50)
    assert len(page) == RUNS // RARE_EVERY and {run.workflow_name for run in page} == {"rare"}


async def test_a_changes_prefetch_reads_step_rows_by_index(store: Store, database_url: str) -> None:
    if DatabaseURL.parse(database_url).dialect == "sqlite":
        return  # SQLite's store prefetches nothing: each read is its own indexed statement
    ids = await history(store)
    found = await store.get_run(ids[7])
    assert found is not None
    rows = found[1]
    params = {"ids": [rows[0].id], "run_ids": [ids[7], ids[8]], "step_ids": ["s3", "s0"]}

    text = plan(database_url, queries.load("postgres")["prefetch_steps"], params)

    # With `id = ANY(...) OR (run_id, step_id) IN (...)` PostgreSQL read every step row.
    assert "Seq Scan on steps" not in text, text
    async with store.transaction() as txn:
        await txn.prefetch([ids[7]], [rows[0].id], [(ids[7], "s3"), (ids[8], "s0")])
        assert [r.step_id for r in await txn.step_rows(ids[7], ["s0", "s3"])] == ["s0", "s3"]


async def test_the_reapers_look_for_kept_places_starts_from_the_places(
    store: Store, database_url: str
) -> None:
    # Found by the history bench: every 2 s the lease reaper's kept_places read every
    # finished run on SQLite (from runs_by_status), stalling the service 0.3-0.9 s.
    await history(store)
    dialect = DatabaseURL.parse(database_url).dialect

    found = plan(database_url, queries.load(dialect)["kept_places"], {"now": None, "age": 30.0, "limit": 100})

    assert "runs_by_status" not in found and "Seq Scan on runs" not in found, found
    assert await store.kept_places(30.0, 100) == []

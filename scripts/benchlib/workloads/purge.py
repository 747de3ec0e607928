"""The ``purge`` workload: retention on a database with a long history. A fresh database is
filled by bulk SQL (not the API: fast) with N finished 10-step runs (one log line each) and
50 claimable steps; then, in this process, on the store the service would use:

* claim latency while idle: one claim transaction (one step) every 10 ms for 2 s, each
  claimed step handed back (untimed) so that there is always one to claim;
* the same during a purge of every finished run by `executor.retention.purge`, the code the
  service's retention loop and ``executor purge`` run (paced pages, then SQLite's space
  given back): purge rate = N / its duration;
* the database's size before and after (SQLite: the file, after a checkpoint; PostgreSQL:
  pg_database_size, whose space autovacuum reuses rather than returns).

Timing is the store's (the claim as the claim loop does it), not HTTP's: the engine's claims
are what a purge could stall.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import psycopg

from executor.retention import purge as purge_runs
from executor.store import create_store
from executor.store.records import Claimed
from executor.store.url import DatabaseURL
from scripts.benchlib.databases import Database, fresh_database
from scripts.benchlib.errors import BenchError, note
from scripts.benchlib.figures import Sample
from scripts.benchlib.suite import Suite
from scripts.benchlib.workloads.latency import percentile

CLAIM_EVERY = 0.01
IDLE_SECONDS = 2.0
CLAIMABLE = 50
T0 = 1_600_000_000.0  # the history: long finished

# Bulk fill, per backend: N finished runs 0.01 s apart from t0, with the rows the engine
# leaves for a finished 10-step chain (random UUIDs as ids, so the indexes grow as they do
# for real runs; each step's output, its available, start and end times, its one attempt in
# its history), a log line per run, and `claimable` running runs with one queued step each.
INSTANCE = "bench-host-4242-9f3c2a1b"  # an instance id's length (host-pid-hex) in the history
SQLITE_UUID = (
    "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)"
    " || '-' || substr('89ab', 1 + abs(random()) % 4, 1) || substr(hex(randomblob(2)), 2) || '-'"
    " || hex(randomblob(6)))"
)
SQLITE_STEP_AT = "r.created_at + 0.0002 + k.j * 0.003"  # when step k.j became available
SQLITE_FILL = [
    "INSERT INTO workflows (name, version, digest, source, definition, created_at)"
    " VALUES ('bench', 1, 'bench', 'name: bench', '{\"name\": \"bench\"}', 0)",
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :runs - 1)"
    " INSERT INTO runs (id, workflow_name, workflow_version, status, input, created_at, started_at,"
    f" finished_at) SELECT {SQLITE_UUID}, 'bench', 1, 'succeeded', '{{}}', :t0 + i * 0.01,"
    " :t0 + i * 0.01 + 0.0002, :t0 + i * 0.01 + 0.03 FROM n WHERE i < :runs",
    # CROSS JOIN: the runs outer, so that a run's steps are inserted together (as submitted)
    "WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 9)"
    " INSERT INTO steps (run_id, step_id, status, attempt, available_at, output, created_at,"
    " started_at, finished_at, history)"
    f" SELECT r.id, 's' || k.j, 'succeeded', 1, {SQLITE_STEP_AT}, '{{\"ok\":true}}', r.created_at,"
    f" {SQLITE_STEP_AT} + 0.00005, {SQLITE_STEP_AT} + 0.00255,"
    ' \'[{"attempt":1,"outcome":"succeeded","instance":"\' || :instance || \'","started_at":\''
    f" || printf('%.6f', {SQLITE_STEP_AT} + 0.00005) || ',\"ended_at\":'"
    f" || printf('%.6f', {SQLITE_STEP_AT} + 0.00255) || '}}]'"
    " FROM runs r CROSS JOIN k",
    "INSERT INTO step_logs (step, attempt, stream, line, created_at)"
    " SELECT id, 1, 'stdout', 'a line of output, as a shell step writes one', created_at"
    " FROM steps WHERE step_id = 's0'",
]
SQLITE_CLAIMABLE = [
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :claimable - 1)"
    " INSERT INTO runs (id, workflow_name, workflow_version, status, input, created_at)"
    " SELECT printf('ffffffff-0000-4000-8000-%012x', i), 'bench', 1, 'running', '{}', :t0 FROM n"
    " WHERE i < :claimable",
    "INSERT INTO steps (run_id, step_id, status, available_at, created_at)"
    " SELECT id, 'work', 'queued', :t0, :t0 FROM runs WHERE status = 'running'",
]
UNCLAIMABLE = ["DELETE FROM steps WHERE step_id = 'work'", "DELETE FROM runs WHERE status = 'running'"]
POSTGRES_STEP_AT = "extract(epoch FROM r.created_at)::float8 + 0.0002 + j * 0.003"
POSTGRES_FILL = [
    "INSERT INTO workflows (name, version, digest, source, definition)"
    " VALUES ('bench', 1, 'bench', 'name: bench', '{\"name\": \"bench\"}')",
    "INSERT INTO runs (id, workflow_name, workflow_version, status, input, created_at, started_at,"
    " finished_at)"
    " SELECT gen_random_uuid(), 'bench', 1, 'succeeded', '{}', to_timestamp(%(t0)s + i * 0.01),"
    " to_timestamp(%(t0)s + i * 0.01 + 0.0002), to_timestamp(%(t0)s + i * 0.01 + 0.03)"
    " FROM generate_series(0, %(runs)s - 1) i",
    # LATERAL on the run (OFFSET 0: not flattened): the runs outer, so that a run's steps
    # are inserted together
    "INSERT INTO steps (run_id, step_id, status, attempt, available_at, output, created_at,"
    " started_at, finished_at, history)"
    " SELECT r.id, 's' || j, 'succeeded', 1, to_timestamp(at), '{\"ok\":true}', r.created_at,"
    " to_timestamp(at + 0.00005), to_timestamp(at + 0.00255), jsonb_build_array(jsonb_build_object("
    "'attempt', 1, 'outcome', 'succeeded', 'instance', %(instance)s::text, 'started_at', at + 0.00005,"
    " 'ended_at', at + 0.00255))"
    f" FROM runs r, LATERAL (SELECT j, {POSTGRES_STEP_AT} AS at FROM generate_series(0, 9) j OFFSET 0) k",
    "INSERT INTO step_logs (step, attempt, stream, line, created_at)"
    " SELECT id, 1, 'stdout', 'a line of output, as a shell step writes one', created_at"
    " FROM steps WHERE step_id = 's0'",
]
POSTGRES_CLAIMABLE = [
    "INSERT INTO runs (id, workflow_name, workflow_version, status, input, created_at)"
    " SELECT ('ffffffff-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'bench', 1, 'running',"
    " '{}', to_timestamp(%(t0)s) FROM generate_series(0, %(claimable)s - 1) i",
    "INSERT INTO steps (run_id, step_id, status, available_at, created_at)"
    " SELECT id, 'work', 'queued', to_timestamp(%(t0)s), to_timestamp(%(t0)s) FROM runs"
    " WHERE status = 'running'",
]


def fill(database: Database, runs: int, t0: float = T0, claimable: int = CLAIMABLE) -> None:
    params = {"runs": runs, "t0": t0, "claimable": claimable, "instance": INSTANCE}
    if database.kind == "sqlite":
        with closing(sqlite3.connect(DatabaseURL.parse(database.url).sqlite_path)) as db:
            db.execute("PRAGMA cache_size = -1000000")  # 1 GB: the indexes grow by random ids
            with db:
                for sql in [*SQLITE_FILL, *SQLITE_CLAIMABLE]:
                    db.execute(sql, params)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    with psycopg.connect(database.url, autocommit=True) as conn:
        for sql in [*POSTGRES_FILL, *POSTGRES_CLAIMABLE, "ANALYZE"]:
            conn.execute(sql, params)


def _execute(database: Database, statements: list[str], params: dict[str, Any]) -> None:
    if database.kind == "sqlite":
        with closing(sqlite3.connect(DatabaseURL.parse(database.url).sqlite_path)) as db, db:
            for sql in statements:
                db.execute(sql, params)
        return
    with psycopg.connect(database.url, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql, params)


@contextmanager
def claimable_steps(database: Database, claimable: int, t0: float = T0) -> Iterator[None]:
    """``claimable`` running runs of the filled workflow, one queued step each; deleted after."""
    statements = SQLITE_CLAIMABLE if database.kind == "sqlite" else POSTGRES_CLAIMABLE
    _execute(database, statements, {"t0": t0, "claimable": claimable})
    try:
        yield
    finally:
        _execute(database, UNCLAIMABLE, {})


def size_mib(database: Database) -> float:
    if database.kind == "sqlite":
        path = DatabaseURL.parse(database.url).sqlite_path
        with closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size / 2**20
    return float(database.rows("SELECT pg_database_size(current_database())")[0][0]) / 2**20


async def measure(url: str, runs: int) -> Sample:
    async with create_store(DatabaseURL.parse(url), pool_size=10) as store:
        idle: list[float] = []
        during: list[float] = []
        samples = idle

        async def claims() -> None:
            while True:
                began = time.perf_counter()
                async with store.transaction() as txn:
                    claimed: list[Claimed] = await txn.claim("bench", 1, 60.0)
                samples.append(time.perf_counter() - began)
                if not claimed:
                    raise BenchError("no step left to claim")
                await store.hand_back(claimed)  # claimable again (untimed)
                await asyncio.sleep(CLAIM_EVERY)

        claimer = asyncio.create_task(claims())
        try:
            await asyncio.sleep(IDLE_SECONDS)
            samples = during
            began = time.perf_counter()
            deleted = await purge_runs(store, 0.0)
            seconds = time.perf_counter() - began
        finally:
            claimer.cancel()
            await asyncio.gather(claimer, return_exceptions=True)
        if deleted != runs:
            raise BenchError(f"the purge deleted {deleted} runs of {runs}")
    found: Sample = {("purge", "runs_per_s"): runs / seconds}
    for name, values in (("idle", idle), ("during_purge", during)):
        found[("claims", f"claim_{name}_p50")] = statistics.median(values) * 1000
        found[("claims", f"claim_{name}_p99")] = percentile(values, 0.99) * 1000
    return found


def purge_once(suite: Suite, kind: str) -> Sample:
    runs = suite.sizes.purge_runs
    with fresh_database(kind, suite.templates[kind]) as database:
        began = time.perf_counter()
        fill(database, runs)
        note(f"filled {kind} with {runs} finished runs in {time.perf_counter() - began:.0f} s")
        before = size_mib(database)
        found = asyncio.run(measure(database.url, runs))
        found[("size", "size_before_mib")] = before
        found[("size", "size_after_mib")] = size_mib(database)
    return found


def purge(suite: Suite, kind: str) -> None:
    shape = f"{suite.sizes.purge_runs} finished 10-step runs, claims every {CLAIM_EVERY * 1000:g} ms"
    suite.measure("purge", kind, lambda: purge_once(suite, kind), shape=shape)

"""The ``history`` workload: is Executor as fast with a long history as with none (issue #16)?

Two databases of a kind: an empty one and one filled by bulk SQL (`purge.fill`, not the
API) with N finished 10-step runs, 0.01 s apart and ending an hour ago (inside the default
retention), of a workflow ``bench`` but every hundredth, which is of ``rare``. Both are
measured in the same repetition, a request (or a claim) on one and then on the other, so
that the noise of a shared machine falls on both alike:

* claims: in this process, on the store the service would use, before the services start:
  claim transactions one at a time (one step each: the claim's statements and its commit),
  each claimed step handed back (untimed), as the purge workload times them. The database
  cannot time the service's claims: a submitted run's first step is claimed in its
  submission's transaction (``started_at - available_at`` is ~0 by construction), so that
  claim's cost is inside ``POST /runs``;
* ``POST /runs``: one service per database, runs of a single-step workflow ``probe`` (shell
  ``true``: a claimed step) one at a time, each waited for until final; the client's time
  per request (a bare keep-alive connection over loopback); and ``run``, each of those
  runs' created_at to finished_at (the database's clock: claim, command, completion);
* first pages of ``GET /runs?workflow=W&status=succeeded`` (50 runs), the client's time:
  ``list`` W=probe (the runs just made, newer than the history), and on the history only
  (on the empty database they are empty pages) ``list_busy`` W=bench (99% of the history)
  and ``list_rare`` W=rare (1% of it, spread through it).

Ratios history / empty of the medians of the repetitions (target <= 1.5); each list of the
history is compared with the empty database's ``list``, the same page of 50 runs. Bytes per
finished run: the filled database's growth / N (SQLite: the file after a checkpoint;
PostgreSQL: pg_database_size after VACUUM). build_s: the fill's time.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack, closing, contextmanager
from typing import Any

import psycopg

from executor.store import create_store
from executor.store.records import Claimed
from executor.store.url import DatabaseURL
from scripts.benchlib.databases import Database, fresh_database
from scripts.benchlib.errors import BenchError, note
from scripts.benchlib.figures import Sample, record
from scripts.benchlib.load import Connection, register
from scripts.benchlib.processes import Instance, service
from scripts.benchlib.settings import CLI
from scripts.benchlib.suite import Suite, wait_run_final
from scripts.benchlib.workloads.latency import percentile
from scripts.benchlib.workloads.purge import claimable_steps, fill, size_mib

PROBE = "name: probe\nsteps:\n  - {id: s0, action: shell, with: {command: 'true'}}\n"
CLAIMABLE = 10
WARMUP = 3  # requests of each kind not counted, after the service started
CLAIM_PAUSE = 0.002  # seconds between two claims: one at a time, not back to back
TARGET = "<= 1.5"
LISTS = {
    "list": "/runs?workflow=probe&status=succeeded",
    "list_busy": "/runs?workflow=bench&status=succeeded",
    "list_rare": "/runs?workflow=rare&status=succeeded",
}
# ratio -> (the history's figure, the empty database's figure it is compared with)
RATIOS = {
    "claim_p99_ratio": ("claim_p99", "claim_p99"),
    "post_p99_ratio": ("post_p99", "post_p99"),
    "run_p99_ratio": ("run_p99", "run_p99"),
    **{f"{name}_{p}_ratio": (f"{name}_{p}", f"list_{p}") for name in LISTS for p in ("p50", "p99")},
}
# Every hundredth run of the history is of the workflow `rare`: per dialect, the statements
# (the run's number from its creation time, 0.01 s apart).
RARE = {
    "sqlite": [
        "INSERT INTO workflows (name, version, digest, source, definition, created_at)"
        " VALUES ('rare', 1, 'rare', 'name: rare', '{\"name\": \"rare\"}', 0)",
        "UPDATE runs SET workflow_name = 'rare' WHERE CAST(round(created_at * 100) AS INTEGER) % 100 = 50",
    ],
    "postgres": [
        "INSERT INTO workflows (name, version, digest, source, definition)"
        " VALUES ('rare', 1, 'rare', 'name: rare', '{\"name\": \"rare\"}')",
        "UPDATE runs SET workflow_name = 'rare'"
        " WHERE round(extract(epoch FROM created_at) * 100)::bigint % 100 = 50",
        "VACUUM ANALYZE",  # as autovacuum would soon: not while measuring
    ],
}


def _spread(variant: str, name: str, values: list[float]) -> Sample:
    return {
        (variant, f"{name}_p50"): statistics.median(values) * 1000,
        (variant, f"{name}_p99"): percentile(values, 0.99) * 1000,
    }


def _turns(n: int, variants: list[str]) -> list[str]:
    """The variants in turn, the first of them changing every time: neither always goes first."""
    return variants if n % 2 == 0 else variants[::-1]


def claims(dbs: dict[str, Database], count: int) -> dict[str, list[float]]:
    """Seconds of each of ``count`` claim transactions per database, one at a time, the
    databases in turn (so that the machine's noise falls on both alike)."""

    async def timed() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {variant: [] for variant in dbs}
        async with AsyncExitStack() as stack:
            stores = {
                variant: await stack.enter_async_context(create_store(DatabaseURL.parse(db.url), pool_size=2))
                for variant, db in dbs.items()
            }
            for n in range(count):
                for variant in _turns(n, list(dbs)):
                    began = time.perf_counter()
                    async with stores[variant].transaction() as txn:
                        claimed: list[Claimed] = await txn.claim("bench", 1, 60.0)
                    times[variant].append(time.perf_counter() - began)
                    if not claimed:
                        raise BenchError("no step left to claim")
                    await stores[variant].hand_back(claimed)  # claimable again (untimed)
                    await asyncio.sleep(CLAIM_PAUSE)
        return times

    with ExitStack() as stack:
        for db in dbs.values():
            stack.enter_context(claimable_steps(db, CLAIMABLE))
        return asyncio.run(timed())


async def requests(
    served: dict[str, tuple[Database, Instance]], posts: int, gets: int
) -> dict[str, dict[str, list[float]]]:
    """Per variant, the seconds of each request by name: ``posts`` probe runs POSTed one at
    a time (each waited for until final), then each list fetched ``gets`` times, both after
    ``WARMUP`` requests not counted; the services in turn, one request at a time."""
    connections = {variant: Connection(instance.url) for variant, (_, instance) in served.items()}
    times: dict[str, dict[str, list[float]]] = {variant: {} for variant in served}

    async def timed(variant: str, name: str, method: str, path: str, body: Any = None) -> bytes:
        began = time.perf_counter()
        try:
            status, answer = await connections[variant].request(method, path, body)
        except (IndexError, OSError, asyncio.IncompleteReadError):
            # The service closed the connection, idle longer than its keep-alive timeout
            # (5 s) while the other was measured or a run was waited for: again, anew.
            connections[variant].close()
            connections[variant] = Connection(served[variant][1].url)
            began = time.perf_counter()
            status, answer = await connections[variant].request(method, path, body)
        times[variant].setdefault(name, []).append(time.perf_counter() - began)
        if status != (201 if method == "POST" else 200):
            raise BenchError(f"{method} {path} answered {status}: {answer.decode(errors='replace')}")
        return answer

    try:
        for n in range(WARMUP + posts):
            for variant in _turns(n, list(served)):
                answer = await timed(variant, "post", "POST", "/runs", {"workflow": "probe"})
                wait_run_final(*served[variant], json.loads(answer)["id"])
        for variant in served:
            del times[variant]["post"][:WARMUP]
        for name, path in LISTS.items():
            # the empty database has no runs of bench or rare: only its list is measured
            variants = [v for v in served if name == "list" or v == "history"]
            for n in range(WARMUP + gets):
                for variant in _turns(n, variants):
                    answer = await timed(variant, name, "GET", path)
                    workflows = {run["workflow"] for run in json.loads(answer)["runs"]}
                    if workflows != {path.split("=")[1].split("&")[0]}:
                        raise BenchError(f"GET {path} gave runs of {sorted(workflows) or 'none'}")
            for variant in variants:
                del times[variant][name][:WARMUP]
    finally:
        for connection in connections.values():
            connection.close()
    return times


def measure_once(suite: Suite, dbs: dict[str, Database]) -> Sample:
    sizes = suite.sizes
    found: Sample = {}
    for variant, values in claims(dbs, sizes.history_claims).items():
        found |= _spread(variant, "claim", values)
    with ExitStack() as stack:
        served = {}
        for variant, db in dbs.items():
            instance = stack.enter_context(service(db, 1, CLI, suite.concurrency))[0]
            register(instance.url, PROBE)
            served[variant] = (db, instance)
        times = asyncio.run(requests(served, sizes.history_posts, sizes.history_gets))
    for variant, db in dbs.items():
        sql = "SELECT count(*) FROM runs WHERE workflow_name = 'probe' AND status <> 'succeeded'"
        if failed := db.rows(sql)[0][0]:
            raise BenchError(f"{failed} probe runs did not succeed on the {variant} database")
        for name, values in times[variant].items():
            found |= _spread(variant, name, values)
        # the engine's side of the same runs (its claim, the command, the completion): the
        # database's own times, the POSTs counted above being the latest
        spans = db.rows(
            f"SELECT {db.epoch('finished_at')} - {db.epoch('created_at')} FROM runs"
            " WHERE workflow_name = 'probe' ORDER BY created_at DESC LIMIT ?",
            sizes.history_posts,
        )
        found |= _spread(variant, "run", [span for (span,) in spans])
    return found


def mark_rare(database: Database) -> None:
    if database.kind == "sqlite":
        with closing(sqlite3.connect(DatabaseURL.parse(database.url).sqlite_path)) as db, db:
            for sql in RARE["sqlite"]:
                db.execute(sql)
        return
    with psycopg.connect(database.url, autocommit=True) as conn:
        for sql in RARE["postgres"]:
            conn.execute(sql)


def size_bytes(database: Database) -> float:
    if database.kind == "postgres":
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute("VACUUM")  # settled, as autovacuum leaves a table (not smaller)
    return size_mib(database) * 2**20


@contextmanager
def databases(suite: Suite, kind: str) -> Iterator[tuple[Database, Database, dict[str, float]]]:
    """The empty database, the filled one, and the fill's figures (bytes per run, build time)."""
    runs = suite.sizes.history_runs
    t0 = time.time() - 3600 - runs * 0.01
    with (
        fresh_database(kind, suite.templates[kind]) as empty,
        fresh_database(kind, suite.templates[kind]) as full,
    ):
        fill(empty, 0, t0, claimable=0)  # the workflow the claims' steps belong to
        before = size_bytes(empty)
        began = time.perf_counter()
        fill(full, runs, t0, claimable=0)
        mark_rare(full)
        built = time.perf_counter() - began
        note(f"filled {kind} with {runs} finished 10-step runs in {built:.0f} s")
        yield empty, full, {"bytes_per_run": (size_bytes(full) - before) / runs, "build_s": built}


def history(suite: Suite, kind: str) -> None:
    sizes = suite.sizes
    shape = (
        f"{sizes.history_runs} finished 10-step runs vs none; {sizes.history_claims} claims,"
        f" {sizes.history_posts} POSTs, {sizes.history_gets} GETs of each list"
    )
    with databases(suite, kind) as (empty, full, built):
        for metric, value in built.items():
            unit = "bytes" if metric == "bytes_per_run" else "s"
            suite.add(record("history", "history", metric, value, kind, [value], unit=unit, shape=shape))
        before = len(suite.figures)
        dbs = {"empty": empty, "history": full}
        suite.measure("history", kind, lambda: measure_once(suite, dbs), shape=shape)
    medians = {(f["variant"], f["metric"]): f for f in suite.figures[before:]}
    for ratio, (mine, theirs) in RATIOS.items():
        full_figure, empty_figure = medians[("history", mine)], medians[("empty", theirs)]
        samples = [a / b for a, b in zip(full_figure["samples"], empty_figure["samples"], strict=True)]
        value = full_figure["value"] / empty_figure["value"]
        suite.add(
            record(
                "history",
                "history_vs_empty",
                ratio,
                value,
                kind,
                samples,
                target=TARGET,
                unit="x",
                shape=shape,
            )
        )

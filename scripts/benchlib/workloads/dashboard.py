"""The ``dashboard`` workload: how fast the dashboard's pages render on a long history. A
fresh database is filled by bulk SQL (as ``purge`` fills it) with N finished 10-step runs,
then marked so that the filters have something to find (a tenth failed, a seventh started
by a schedule); one service serves it. Each page is fetched ``REQUESTS`` times after one
warm-up fetch, one at a time over loopback: the figure is the service's whole answer time
(server-side rendering, queries included), p50 and p95 in milliseconds.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import time
from contextlib import closing
from datetime import UTC, datetime
from html import unescape

import httpx
import psycopg

from executor.store.url import DatabaseURL
from scripts.benchlib.databases import Database, fresh_database
from scripts.benchlib.errors import BenchError, note
from scripts.benchlib.figures import Sample
from scripts.benchlib.processes import service
from scripts.benchlib.settings import CLI
from scripts.benchlib.suite import Suite
from scripts.benchlib.workloads import purge
from scripts.benchlib.workloads.latency import percentile

REQUESTS = 20
# The bench workflow's stored definition: a chain of the ten steps the fill gives each run.
DEFINITION = (
    '{"name": "bench", "steps": ['
    + ", ".join(
        f'{{"id": "s{i}", "action": "noop", "needs": [{"" if i == 0 else f"{chr(34)}s{i - 1}{chr(34)}"}]}}'
        for i in range(10)
    )
    + "]}"
)
MARK = [
    "DELETE FROM steps WHERE step_id = 'work'",
    "DELETE FROM runs WHERE status = 'running'",
    "UPDATE runs SET status = 'failed', error = 'step s9 failed' WHERE {n} % 10 = 3",
    "UPDATE runs SET trigger = 'schedule', schedule_id = 'nightly' WHERE {n} % 7 = 2",
]
_NEXT = re.compile(r'href="(/ui/runs\?[^"]*cursor=[^"]*)" rel="next"')


def _fill(database: Database, runs: int, t0: float) -> None:
    purge.fill(database, runs, t0)
    if database.kind == "sqlite":
        with closing(sqlite3.connect(DatabaseURL.parse(database.url).sqlite_path)) as db, db:
            db.execute("UPDATE workflows SET definition = ?", (DEFINITION,))
            for sql in MARK:
                db.execute(sql.format(n="created_at * 100"))
            db.execute("ANALYZE")
        return
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("UPDATE workflows SET definition = %s::jsonb", (DEFINITION,))
        for sql in MARK:
            conn.execute(sql.format(n="(extract(epoch FROM created_at) * 100)::bigint"))
        conn.execute("ANALYZE")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _timed(client: httpx.Client, path: str) -> list[float]:
    first = client.get(path)
    if first.status_code != 200:
        raise BenchError(f"GET {path} answered {first.status_code}: {first.text[-600:]}")
    times = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise BenchError(f"GET {path} answered {response.status_code}")
    return times


def dashboard_once(suite: Suite, kind: str) -> Sample:
    runs = suite.sizes.purge_runs
    found: Sample = {}
    with fresh_database(kind, suite.templates[kind]) as database:
        began = time.perf_counter()
        # A recent history (the last runs an hour old): older runs would be the retention
        # loop's to delete while the pages are timed.
        t0 = time.time() - 3600 - runs * 0.01
        _fill(database, runs, t0)
        note(f"filled {kind} with {runs} finished runs in {time.perf_counter() - began:.0f} s")
        run_id = database.rows("SELECT id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0]
        with (
            service(database, 1, CLI, suite.concurrency) as fleet,
            httpx.Client(base_url=fleet[0].url, timeout=30, trust_env=False) as client,
        ):
            first = client.get("/ui/runs").text
            older = _NEXT.search(first)
            if older is None:
                raise BenchError("the runs page has no link to older runs")
            pages = {
                "runs": "/ui/runs",
                "runs_page_2": unescape(older.group(1)),
                "runs_failed": "/ui/runs?status=failed",
                "runs_scheduled": "/ui/runs?trigger=schedule",
                "runs_of_workflow": "/ui/runs?workflow=bench",
                "runs_recent_tenth": f"/ui/runs?since={_iso(t0 + runs * 0.01 * 0.9)}",
                "workflows": "/ui/workflows",
                "run": f"/ui/runs/{run_id}",
            }
            for variant, path in pages.items():
                times = _timed(client, path)
                found[(variant, "render_p50_ms")] = statistics.median(times) * 1000
                found[(variant, "render_p95_ms")] = percentile(times, 0.95) * 1000
    return found


def dashboard(suite: Suite, kind: str) -> None:
    shape = f"{suite.sizes.purge_runs} finished 10-step runs, {REQUESTS} GETs per page"
    suite.measure("dashboard", kind, lambda: dashboard_once(suite, kind), shape=shape)

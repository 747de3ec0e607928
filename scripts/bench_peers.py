"""Peer benchmark: competing durable-execution tools measured on this machine.

Run it with scripts/bench-peers, which builds its own virtual environment (.bench/peers, from
scripts/bench-peers.txt) apart from the project's .venv. Executor's own figures come from
scripts/bench; this script gives the peers' figures on the same machine, so the benchmark table
can show Executor's numbers as ratios to them.

Output: one JSON line per measurement on stdout,

    {"workload", "system", "database", "metric", "value", "unit", "samples", "cores",
     "version", "settings"}

where ``value`` is the median of ``samples`` (one per repetition, ``--repeat``). Progress and
diagnostics go to stderr only. A measurement a peer cannot make (a mode its version does not
support) is a line with ``"value": null`` and an ``"error"``; a peer that fails is such a line
too, and the script then exits non-zero.

Every repetition runs in a fresh child process against a fresh database: a uniquely named
PostgreSQL database (``bench_peer_<hex8>``, created before and dropped after, even on failure)
or a new SQLite file in a temporary directory. Setup (imports, schema creation, launch) is
never timed. Durability settings are each tool's defaults: nothing turns fsync off.

Workloads:
  chain       DBOS (systems dbos-sqlite, dbos-sqlite-wal, dbos-postgres). A workflow of 10
              sequential steps, each a no-op ``@DBOS.step()`` returning a small value; 200
              such workflows are started at once and awaited. steps_per_s = 200 * 10 /
              seconds from the first start_workflow call until the last result is back.
              How they are started: DBOS.start_workflow (each workflow runs on DBOS's own
              executor thread pool) with max_executor_threads=4. This was the best honest
              option measured here: with the default unbounded pool all 200 workflows run at
              once and, on SQLite, fight over the single write lock (about 140-270 steps/s
              instead of 310-440); a DBOS queue (worker_concurrency 8-200) and async
              workflows (start_workflow_async) were slower on both databases. On
              PostgreSQL the thread limit makes no measurable difference.
  chain_long  DBOS, same systems: one workflow of 2,000 sequential no-op steps; steps_per_s =
              2000 / seconds from start_workflow until its result is back.
  jobs        PgQueuer and Procrastinate (PostgreSQL): N no-op jobs (default 5,000) are
              enqueued in one batch (enqueue_per_s = N / seconds for that batch), then the
              workers are started and run until the queue is drained; jobs_per_s = N /
              seconds from starting the workers until the last job is recorded done. The
              child checks afterwards that exactly N jobs succeeded.
              PgQueuer: 5 QueueManagers (one asyncpg connection each) in drain mode with
              batch_size 10 on uvloop, the settings of PgQueuer's own drain benchmark
              (tools/benchmark.py). Procrastinate: one worker, concurrency 10, wait=False
              (stop once the queue is empty), default listen/notify and delete_jobs
              (finished jobs stay in the table). Procrastinate slows down as its jobs table
              fills, so jobs_per_s depends on N: here about 500 jobs/s at 2,000 jobs and
              150-260 at 5,000; compare figures at the same --jobs only.

SQLite: DBOS (this version) takes a ``sqlite:///path`` system_database_url and leaves the
file in SQLite's default rollback-journal mode (dbos-sqlite). dbos-sqlite-wal is the same
DBOS with the file switched to WAL before launch; synchronous stays at SQLite's default FULL,
so every commit is still fsynced (Executor's own SQLite store runs WAL + synchronous=FULL).

--quick shrinks everything (20 workflows x 10 steps, a 50-step chain, 200 jobs, one
repetition unless --repeat is given) so a smoke test finishes in well under a minute.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"

# system -> (database kind, package whose version is reported, workloads)
SYSTEMS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "dbos-sqlite": ("sqlite", "dbos", ("chain", "chain_long")),
    "dbos-sqlite-wal": ("sqlite", "dbos", ("chain", "chain_long")),
    "dbos-postgres": ("postgres", "dbos", ("chain", "chain_long")),
    "pgqueuer": ("postgres", "pgqueuer", ("jobs",)),
    "procrastinate": ("postgres", "procrastinate", ("jobs",)),
}

# DBOS: see the module docstring for why start_workflow with a bounded thread pool.
DBOS_MAX_EXECUTOR_THREADS = 4
# PgQueuer: the defaults of its own drain benchmark.
PGQUEUER_MANAGERS = 5
PGQUEUER_BATCH_SIZE = 10
# Procrastinate: async no-op tasks, one worker.
PROCRASTINATE_CONCURRENCY = 10


def log(message: str) -> None:
    print(f"bench_peers: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- parent side


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure DBOS, PgQueuer and Procrastinate on this machine (JSON lines on "
        "stdout, progress on stderr).",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="repetitions per measurement, the median is reported (default 3, 1 with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes for a smoke test (well under a minute)"
    )
    parser.add_argument("--only", default=None, help="comma list of systems: " + ",".join(SYSTEMS))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("EXECUTOR_BENCH_POSTGRES", DEFAULT_POSTGRES),
        help="PostgreSQL URL of a role that may create databases; each "
        "measurement creates and drops its own database there (default "
        "$EXECUTOR_BENCH_POSTGRES or %(default)s)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="jobs per 'jobs' run (default 5000, 200 with --quick)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds one repetition may take before it is killed (default 900, 60 with --quick)",
    )
    args = parser.parse_args(argv)

    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    systems = list(SYSTEMS) if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        parser.error(f"--only: unknown system(s) {unknown}; choose from {','.join(SYSTEMS)}")
    sizes = {
        "workflows": 20 if args.quick else 200,
        "steps": 10,
        "long_steps": 50 if args.quick else 2000,
        "jobs": args.jobs if args.jobs is not None else (200 if args.quick else 5000),
    }
    if sizes["jobs"] < 1:
        parser.error("--jobs must be at least 1")
    timeout = args.timeout if args.timeout is not None else (60.0 if args.quick else 900.0)

    # SIGTERM unwinds like Ctrl-C, so children are killed and databases dropped.
    signal.signal(signal.SIGTERM, raise_interrupt)

    failures: list[str] = []
    started = time.monotonic()
    for system in systems:
        for workload in SYSTEMS[system][2]:
            problem = measure(system, workload, repeat, sizes, args.postgres, timeout)
            if problem is not None:
                failures.append(f"{system} {workload}: {problem}")
    log(f"done in {time.monotonic() - started:.1f} s")
    if failures:
        log("FAILED: " + "; ".join(failures))
        return 1
    return 0


def measure(
    system: str, workload: str, repeat: int, sizes: dict[str, int], admin_url: str, timeout: float
) -> str | None:
    """Run one workload ``repeat`` times and print its JSON lines; return a failure, if any."""
    kind, package, _ = SYSTEMS[system]
    version = importlib.metadata.version(package)

    def line(metric: str, value: float | None, unit: str | None, samples: list[float]) -> dict[str, Any]:
        return {
            "workload": workload,
            "system": system,
            "database": kind,
            "metric": metric,
            "value": value,
            "unit": unit,
            "samples": samples,
            "cores": os.cpu_count(),
            "version": version,
        }

    samples: dict[str, list[float]] = {}
    units: dict[str, str] = {}
    settings: dict[str, Any] = {}
    for rep in range(1, repeat + 1):
        log(f"{system} {workload} run {rep}/{repeat} ...")
        t0 = time.monotonic()
        try:
            result = run_child(system, workload, kind, sizes, admin_url, timeout)
        except ChildFailed as exc:
            log(f"{system} {workload}: FAILED: {exc}")
            emit({**line(default_metric(workload), None, None, []), "error": str(exc)})
            return str(exc)
        if "unsupported" in result:
            # Not a failure: this version of the peer cannot run the mode at all.
            log(f"{system} {workload}: UNSUPPORTED: {result['unsupported']}")
            emit({**line(default_metric(workload), None, None, []), "error": result["unsupported"]})
            return None
        settings = result["settings"]
        for m in result["metrics"]:
            samples.setdefault(m["metric"], []).append(m["value"])
            units[m["metric"]] = m["unit"]
        figures = ", ".join(f"{m['metric']}={m['value']:.1f}" for m in result["metrics"])
        log(f"{system} {workload} run {rep}/{repeat}: {figures} ({time.monotonic() - t0:.1f} s with setup)")
    for metric, values in samples.items():
        emit({**line(metric, statistics.median(values), units[metric], values), "settings": settings})
    return None


def raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def default_metric(workload: str) -> str:
    return "jobs_per_s" if workload == "jobs" else "steps_per_s"


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


class ChildFailed(Exception):
    pass


def run_child(
    system: str, workload: str, kind: str, sizes: dict[str, int], admin_url: str, timeout: float
) -> dict[str, Any]:
    """One repetition: a fresh database, a fresh child process, the database dropped after."""
    with tempfile.TemporaryDirectory(prefix="bench_peer_") as tmp:
        db_name = None
        if kind == "postgres":
            db_name = f"bench_peer_{uuid.uuid4().hex[:8]}"
            create_database(admin_url, db_name)
            url = with_database(admin_url, db_name)
        else:
            url = "sqlite:///" + str(Path(tmp) / "dbos_system.sqlite")
        result_path = Path(tmp) / "result.json"
        spec = {
            "system": system,
            "workload": workload,
            "url": url,
            "sizes": sizes,
            "result": str(result_path),
        }
        # The child imports this file as the module "bench_peers" (not "__main__"), so the
        # peers see their tasks and workflows registered under a proper module name.
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); import bench_peers; "
            "sys.exit(bench_peers.child_main(sys.argv[2]))"
        )
        proc = None
        try:
            # The child's stdout goes to our stderr: stdout carries only our JSON lines.
            proc = subprocess.Popen(
                [sys.executable, "-c", code, str(Path(__file__).resolve().parent), json.dumps(spec)],
                stdin=subprocess.DEVNULL,
                stdout=sys.stderr.fileno(),
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise ChildFailed(f"no result within {timeout:g} s (killed)") from None
            if rc != 0:
                raise ChildFailed(f"child exited with status {rc} (traceback above on stderr)")
            try:
                return json.loads(result_path.read_text())
            except (OSError, ValueError) as exc:
                raise ChildFailed(f"child wrote no readable result: {exc}") from None
        finally:
            if proc is not None:
                kill_group(proc)
            if db_name is not None:
                drop_database(admin_url, db_name)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and anything it started (its own session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def with_database(url: str, db_name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + db_name, parts.query, parts.fragment))


def create_database(admin_url: str, db_name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
    except psycopg.Error as exc:
        raise ChildFailed(f"cannot create database {db_name} at {admin_url}: {exc}") from None


def drop_database(admin_url: str, db_name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    except psycopg.Error as exc:
        log(f"WARNING: could not drop database {db_name}: {exc}")


# --------------------------------------------------------------------------- child side


def child_main(spec_json: str) -> int:
    """Run one repetition of one workload and write its result to spec["result"]."""
    spec = json.loads(spec_json)
    system, workload, url, sizes = spec["system"], spec["workload"], spec["url"], spec["sizes"]
    try:
        if system.startswith("dbos-"):
            result = child_dbos(system, workload, url, sizes)
        elif system == "pgqueuer":
            result = child_pgqueuer(url, sizes["jobs"])
        elif system == "procrastinate":
            result = child_procrastinate(url, sizes["jobs"])
        else:
            raise ValueError(f"unknown system {system}")
    except Exception:
        traceback.print_exc()
        return 1
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


def child_dbos(system: str, workload: str, url: str, sizes: dict[str, int]) -> dict[str, Any]:
    import importlib.util
    import sqlite3
    from contextlib import closing

    from dbos import DBOS, DBOSConfig

    sqlite_path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    if sqlite_path is not None and importlib.util.find_spec("dbos._sys_db_sqlite") is None:
        # DBOS before SQLite system databases (they arrived with dbos._sys_db_sqlite).
        return {"unsupported": f"dbos {importlib.metadata.version('dbos')} has no SQLite system database"}

    @DBOS.step()
    def noop_step(i: int) -> int:
        return i

    @DBOS.workflow()
    def chain(n: int) -> int:
        total = 0
        for i in range(n):
            total += noop_step(i)
        return total

    if workload == "chain":
        n_wf, n_steps = sizes["workflows"], sizes["steps"]
    else:
        n_wf, n_steps = 1, sizes["long_steps"]
    settings: dict[str, Any] = {
        "workflows": n_wf,
        "steps_per_workflow": n_steps,
        "start": "DBOS.start_workflow",
        "max_executor_threads": DBOS_MAX_EXECUTOR_THREADS,
    }
    if sqlite_path is not None:
        # journal_mode=WAL is stored in the file, so DBOS's own connections use it too.
        with closing(sqlite3.connect(sqlite_path)) as db:
            if system == "dbos-sqlite-wal":
                db.execute("PRAGMA journal_mode=WAL")
            settings["journal_mode"] = db.execute("PRAGMA journal_mode").fetchone()[0]
            level = db.execute("PRAGMA synchronous").fetchone()[0]
            settings["synchronous"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[level]

    config: DBOSConfig = {
        "name": "bench-peers",
        "system_database_url": url,
        "max_executor_threads": DBOS_MAX_EXECUTOR_THREADS,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    try:
        DBOS.launch()
        t0 = time.perf_counter()
        handles = [DBOS.start_workflow(chain, n_steps) for _ in range(n_wf)]
        results = [h.get_result() for h in handles]
        elapsed = time.perf_counter() - t0
    finally:
        DBOS.destroy()
    expected = n_steps * (n_steps - 1) // 2
    if results != [expected] * n_wf:
        raise RuntimeError(f"expected {n_wf} results of {expected}, got {results[:5]}...")
    return {
        "settings": settings,
        "metrics": [{"metric": "steps_per_s", "value": n_wf * n_steps / elapsed, "unit": "steps/s"}],
    }


def child_pgqueuer(url: str, n: int) -> dict[str, Any]:
    import asyncio

    import asyncpg
    import uvloop
    from pgqueuer import AsyncpgDriver, Queries, QueueManager
    from pgqueuer.domain.types import QueueExecutionMode
    from pgqueuer.models import Job

    async def run() -> dict[str, Any]:
        conn = await asyncpg.connect(url)
        workers: list[Any] = []
        try:
            queries = Queries(AsyncpgDriver(conn))
            await queries.install()

            t0 = time.perf_counter()
            await queries.enqueue(["noop"] * n, [None] * n, [0] * n)
            enqueue_s = time.perf_counter() - t0

            managers = []
            for _ in range(PGQUEUER_MANAGERS):
                worker_conn = await asyncpg.connect(url)
                workers.append(worker_conn)
                qm = QueueManager(Queries(AsyncpgDriver(worker_conn)))

                @qm.entrypoint("noop")
                async def noop(job: Job) -> None:
                    return None

                managers.append(qm)
            # Drain mode: each manager returns once the queue is empty and its own jobs are
            # done and logged, so the last return is the last job done.
            t1 = time.perf_counter()
            await asyncio.gather(
                *(qm.run(batch_size=PGQUEUER_BATCH_SIZE, mode=QueueExecutionMode.drain) for qm in managers)
            )
            process_s = time.perf_counter() - t1

            done = await conn.fetchval("SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'")
            left = await conn.fetchval("SELECT count(*) FROM pgqueuer")
            if done != n or left != 0:
                raise RuntimeError(
                    f"expected {n} successful jobs and an empty queue, got {done} successful and {left} left"
                )
        finally:
            for c in [conn, *workers]:
                await c.close()
        return {
            "settings": {
                "jobs": n,
                "queue_managers": PGQUEUER_MANAGERS,
                "batch_size": PGQUEUER_BATCH_SIZE,
                "mode": "drain",
                "driver": "asyncpg",
                "event_loop": "uvloop",
            },
            "metrics": [
                {"metric": "jobs_per_s", "value": n / process_s, "unit": "jobs/s"},
                {"metric": "enqueue_per_s", "value": n / enqueue_s, "unit": "jobs/s"},
            ],
        }

    return uvloop.run(run())


def child_procrastinate(url: str, n: int) -> dict[str, Any]:
    import asyncio

    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="noop")
    async def noop() -> None:
        return None

    async def run() -> dict[str, Any]:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()

            t0 = time.perf_counter()
            await noop.batch_defer_async(*({} for _ in range(n)))
            enqueue_s = time.perf_counter() - t0

            # wait=False: the worker returns once it has caught up with the queue.
            t1 = time.perf_counter()
            await app.run_worker_async(
                concurrency=PROCRASTINATE_CONCURRENCY, wait=False, install_signal_handlers=False
            )
            process_s = time.perf_counter() - t1

            async with app.connector.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status"
                )
                counts = dict(await cur.fetchall())
            if counts != {"succeeded": n}:
                raise RuntimeError(f"expected {n} succeeded jobs, got {counts}")
        return {
            "settings": {
                "jobs": n,
                "workers": 1,
                "concurrency": PROCRASTINATE_CONCURRENCY,
                "wait": False,
                "connector": "PsycopgConnector",
                "batch_defer": True,
            },
            "metrics": [
                {"metric": "jobs_per_s", "value": n / process_s, "unit": "jobs/s"},
                {"metric": "enqueue_per_s", "value": n / enqueue_s, "unit": "jobs/s"},
            ],
        }

    return asyncio.run(run())


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)

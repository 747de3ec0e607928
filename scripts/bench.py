"""Executor's benchmark suite for issue #6 (run it with scripts/bench).

Everything goes through the real service: each measurement gets a fresh database (a copy of
one that ``python -m executor migrate`` migrated at the start), then ``python -m executor
--database URL --port P --skip-migrations`` (plus ``--concurrency N`` when given), driven over
HTTP. Figures come from the database's own
timestamps (read-only SQL: ``runs`` and ``steps``, same clock on both sides), never from
the client, except where a workload says so. Each workload runs against SQLite (a temp
file, default durability settings) and PostgreSQL (``EXECUTOR_BENCH_POSTGRES``, default
postgresql://postgres@127.0.0.1:5432/postgres; a uniquely named database is created and
dropped per measurement), unless ``--database`` picks one.

Workloads (``--only NAME,...``; full sizes, ``--quick`` shrinks them):
  steps      durable steps/s = steps / (last run finished_at - first run created_at), after
             every run is final (any run that did not succeed fails the suite):
             chain_long  one run of a 2,000-step chain of noop steps
             chains      200 runs of a 10-step noop chain, submitted at once (32 connections)
  runs       runs/s = 2,000 / (last finished_at - first created_at) for 2,000 single-step
             noop runs POSTed by an async client over 32 connections; by-products: POST /runs
             req/s during that burst (client side), and GET /runs/{id} req/s afterwards
             (2,000 requests over 16 connections on the now idle service)
  fanout     items/s = 5,000 / (finished_at - created_at) of one run whose step has
             ``for_each`` over 5,000 items with ``concurrency: 100``
  latency    an idle service, 500 single-step noop runs one at a time (each waited for, by
             polling the database, before the next; 3 warm-up runs not counted):
             post_to_first_step = steps.started_at - runs.created_at and post_to_finished =
             runs.finished_at - runs.created_at (database timestamps on both sides), and
             sent_to_first_step = steps.started_at - the client's clock when it sent the POST
             (same host, same clock; includes HTTP and request handling); p50 and p99 in ms
  fleet      PostgreSQL only: the ``chains`` workload with 1, 2 and 3 instances sharing one
             database, runs POSTed round-robin; and ``latency`` on an idle fleet of 3
  footprint  binary size; launch to /health 200; idle RSS (process tree); idle CPU over
             ``--idle`` seconds; SIGTERM to exit. For the CLI and, when built, the binary
             (dist/executor, or EXECUTOR_BINARY). Then RSS before, halfway through and after
             10,000 finished single-step runs (CLI), so growth is visible
  peers      scripts/bench-peers (DBOS, PgQueuer, Procrastinate in their own venv) run as a
             subprocess; its JSON lines become ``peers`` figures. Skipped by ``--quick``
             unless named in ``--only``
Ratios: for every Executor figure with a matching peer figure in the same invocation and on
the same database, a ``ratio`` figure = Executor / peer: chains vs each DBOS system's chain
(dbos-sqlite and dbos-sqlite-wal on SQLite, dbos-postgres), chain_long vs DBOS chain_long,
and single-step runs/s on PostgreSQL vs PgQueuer and Procrastinate jobs/s (targets >= 1, >= 10).

Output: one JSON line per figure as soon as it is measured (``workload, variant, metric,
value, unit, database, target?, target_met?, samples, cores, repeat`` and details such as
``shape``), then a table. ``value`` is the median of ``--repeat`` repetitions (default 3);
``samples`` holds each repetition's value. Timing lives here, never in pass/fail tests.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import functools
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "executor"]
BINARY = Path(os.environ.get("EXECUTOR_BINARY", ROOT / "dist" / "executor"))
PEERS = Path(os.environ.get("EXECUTOR_BENCH_PEERS", ROOT / "scripts" / "bench-peers"))
POSTGRES = os.environ.get("EXECUTOR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = ("sqlite", "postgres")
WORKLOADS = ("steps", "runs", "fanout", "latency", "fleet", "footprint", "peers")
CONNECTIONS = 32  # concurrent HTTP connections submitting runs
GET_CONNECTIONS = 16
CHAIN_LENGTH = 10
FANOUT_CONCURRENCY = 100
LATENCY_WARMUP = 3
STALL_SECONDS = 120.0  # fail when no step or run finishes for this long
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FINAL_RUN = "('succeeded', 'failed', 'cancelled')"
FINAL_STEP = "('succeeded', 'failed', 'skipped', 'cancelled')"

# Issue #6 targets, keyed by (workload, variant, metric, database); database None: any.
TARGETS = {
    ("steps", "chains", "steps_per_s", "sqlite"): ">= 5000",
    ("steps", "chains", "steps_per_s", "postgres"): ">= 3000",
    ("runs", "single_step", "runs_per_s", "postgres"): ">= PgQueuer, >= 10x Procrastinate (ratios)",
    ("footprint", "binary", "launch_to_ready", None): "<= 1000",
    ("latency", "idle", "post_to_first_step_p50", "sqlite"): "<= 5",
    ("latency", "idle", "post_to_first_step_p50", "postgres"): "<= 15",
}
# Executor figure (workload, variant, metric) compared with a peer figure (system, workload,
# metric) on the same database; the ratio is Executor / peer, with its target if any. A system
# also matches its variants: "dbos" matches dbos-sqlite, dbos-sqlite-wal and dbos-postgres.
RATIOS = [
    (("steps", "chains", "steps_per_s"), ("dbos", "chain", "steps_per_s"), None),
    (("steps", "chain_long", "steps_per_s"), ("dbos", "chain_long", "steps_per_s"), None),
    (("runs", "single_step", "runs_per_s"), ("pgqueuer", "jobs", "jobs_per_s"), ">= 1"),
    (("runs", "single_step", "runs_per_s"), ("procrastinate", "jobs", "jobs_per_s"), ">= 10"),
]


@dataclass(frozen=True)
class Sizes:
    chain_long: int = 2000
    chains: int = 200
    single_runs: int = 2000
    get_requests: int = 2000
    fanout_items: int = 5000
    latency_runs: int = 500
    rss_runs: int = 10000


FULL = Sizes()
QUICK = Sizes(
    chain_long=50,
    chains=20,
    single_runs=200,
    get_requests=100,
    fanout_items=50,
    latency_runs=10,
    rss_runs=200,
)


class BenchError(Exception):
    """A measurement that cannot be trusted: the suite stops and says why."""


def note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- workflows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """``runs`` runs of the workflow ``flow`` (named ``name``), ``units`` steps or items in all."""

    name: str
    flow: str
    runs: int
    units: int
    shape: str


def chain_load(runs: int, length: int) -> Load:
    """``runs`` runs of a chain of ``length`` noop steps, each needing the one before."""
    lines = ["name: chain", "steps:", "  - {id: s0, action: noop}"]
    lines += [f"  - {{id: s{i}, action: noop, needs: [s{i - 1}]}}" for i in range(1, length)]
    shape = f"{runs} run{'s' * (runs > 1)} x {length} noop step{'s' * (length > 1)}"
    return Load("chain", "\n".join(lines) + "\n", runs, runs * length, shape)


def fanout_load(items: int) -> Load:
    """One run of one noop step with ``for_each`` over ``items`` items."""
    flow = (
        "name: fanout\nsteps:\n  - id: items\n    action: noop\n"
        f'    for_each: "{{{{ range({items}) }}}}"\n    concurrency: {FANOUT_CONCURRENCY}\n'
    )
    return Load(
        "fanout", flow, 1, items, f"1 run, for_each over {items} items, concurrency {FANOUT_CONCURRENCY}"
    )


# --- databases ------------------------------------------------------------------------------


@dataclass
class Database:
    """A fresh, migrated database for one measurement, and read-only SQL on it."""

    kind: str
    url: str
    connect: Callable[[], Any]
    _connection: Any = None

    def epoch(self, column: str) -> str:
        """SQL giving ``column`` as Unix seconds (SQLite stores them; PostgreSQL has timestamptz)."""
        return column if self.kind == "sqlite" else f"extract(epoch FROM {column})::float8"

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        if self._connection is None:
            self._connection = self.connect()
        if self.kind == "postgres":
            sql = sql.replace("?", "%s")
        return list(self._connection.execute(sql, params).fetchall())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def progress(self) -> tuple[int, int]:
        """(runs final, steps final)."""
        return self.rows(
            f"SELECT (SELECT count(*) FROM runs WHERE status IN {FINAL_RUN}),"
            f" (SELECT count(*) FROM steps WHERE status IN {FINAL_STEP})"
        )[0]

    def run_status(self, run_id: str) -> str:
        return self.rows("SELECT status FROM runs WHERE id = ?", run_id)[0][0]

    def require_success(self, runs: int) -> None:
        count, failed, error = self.rows(
            "SELECT count(*), sum(CASE WHEN status <> 'succeeded' THEN 1 ELSE 0 END), max(error) FROM runs"
        )[0]
        if count != runs or failed:
            raise BenchError(f"{failed or 0} of {count} runs did not succeed (expected {runs}); {error}")

    def span(self) -> float:
        """Seconds from the first run created to the last run finished."""
        first, last = self.rows(
            f"SELECT min({self.epoch('created_at')}), max({self.epoch('finished_at')}) FROM runs"
        )[0]
        return last - first

    def latencies(self) -> dict[str, tuple[float, float, float]]:
        """Run id -> (created, first step started, finished) for single-step runs."""
        rows = self.rows(
            f"SELECT r.id, {self.epoch('r.created_at')}, {self.epoch('s.started_at')},"
            f" {self.epoch('r.finished_at')} FROM runs r JOIN steps s ON s.run_id = r.id"
            " WHERE s.item_index = -1"
        )
        return {str(run_id): (created, started, finished) for run_id, created, started, finished in rows}


def migrate(url: str) -> None:
    result = subprocess.run(
        [*CLI, "migrate", "--database", url], capture_output=True, text=True, env=service_env()
    )
    if result.returncode != 0:
        raise BenchError(f"executor migrate failed: {result.stderr.strip()}")


def postgres_url(name: str) -> str:
    return urlsplit(POSTGRES)._replace(path=f"/{name}").geturl()


@contextmanager
def templates(kinds: list[str]) -> Iterator[dict[str, str]]:
    """Per kind, a database migrated once by ``executor migrate`` that each measurement copies
    (a SQLite file; a PostgreSQL database used as a TEMPLATE), removed afterwards."""
    found: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="executor-bench-") as tmp:
        try:
            if "sqlite" in kinds:
                found["sqlite"] = str(Path(tmp) / "template.db")
                migrate(f"sqlite:///{found['sqlite']}")
            if "postgres" in kinds:
                found["postgres"] = f"executor_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}_template"
                _admin(f'CREATE DATABASE "{found["postgres"]}"')
                migrate(postgres_url(found["postgres"]))
            yield found
        finally:
            if "postgres" in found:
                _admin(f'DROP DATABASE IF EXISTS "{found["postgres"]}" WITH (FORCE)')


@contextmanager
def fresh_database(kind: str, template: str) -> Iterator[Database]:
    """A new database of ``kind``, a copy of the migrated ``template``; removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="executor-bench-") as tmp:
            path = Path(tmp) / "bench.db"
            shutil.copyfile(template, path)  # `executor migrate` leaves one file, no WAL
            database = Database(
                kind, f"sqlite:///{path}", lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            )
            with closing(database):
                yield database
        return
    name = f"executor_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        url = postgres_url(name)
        database = Database(kind, url, lambda: psycopg.connect(url, autocommit=True))
        with closing(database):
            yield database
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(sql: str) -> None:
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(sql)


def postgres_problem() -> str | None:
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL at {POSTGRES}: {str(exc).strip().splitlines()[0]}"
    return None


# --- service processes ----------------------------------------------------------------------


def service_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")}


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if this script dies (even by SIGKILL)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Instance:
    """One running executor: its process, URL, log, and seconds from launch to /health 200."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    ready_seconds: float = 0.0
    exit_code: int | None = field(default=None)

    @classmethod
    def launch(cls, command: list[str], database: str, workdir: Path, concurrency: int | None) -> Instance:
        workdir.mkdir()
        port = free_port()
        options = ["--database", database, "--port", str(port), "--skip-migrations", "--log-level", "warning"]
        options += ["--concurrency", str(concurrency)] if concurrency else []
        log = workdir / "executor.log"
        with log.open("wb") as out:
            started = time.perf_counter()
            process = subprocess.Popen(
                [*command, *options],
                cwd=workdir,
                env=service_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        instance = cls(process, f"http://127.0.0.1:{port}", log)
        try:
            instance._wait_ready(started)
        except BaseException:
            instance.stop()
            raise
        return instance

    def _wait_ready(self, started: float) -> None:
        with httpx.Client(timeout=1, trust_env=False) as client:
            while True:
                try:
                    if client.get(self.url + "/health").status_code == 200:
                        self.ready_seconds = time.perf_counter() - started
                        return
                except httpx.TransportError:
                    pass
                self.check_alive()
                if time.perf_counter() - started > 60:
                    raise BenchError(f"executor at {self.url} not ready after 60 s: {self.log_tail()}")
                time.sleep(0.002)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"executor exited {self.process.returncode}: {self.log_tail()}")

    def log_tail(self) -> str:
        return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> float:
        """SIGTERM (if still running) and wait; seconds until it exited. Kills after 60 s."""
        began = time.perf_counter()
        self.terminate()
        try:
            self.exit_code = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.exit_code = self.process.wait()
            note(f"executor at {self.url} ignored SIGTERM for 60 s and was killed")
        return time.perf_counter() - began


@contextmanager
def service(
    database: Database, instances: int = 1, command: list[str] = CLI, concurrency: int | None = None
) -> Iterator[list[Instance]]:
    """``instances`` executors on ``database``, always stopped afterwards."""
    fleet: list[Instance] = []
    with tempfile.TemporaryDirectory(prefix="executor-bench-") as tmp:
        try:
            for index in range(instances):
                fleet.append(Instance.launch(command, database.url, Path(tmp) / f"i{index}", concurrency))
            yield fleet
        finally:
            for instance in fleet:
                instance.terminate()
            for instance in fleet:
                instance.stop()


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the one-file binary runs Executor in a child process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(member for child in children for member in tree(int(child)))]


def rss_mib(pid: int) -> float:
    total = 0
    for member in tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total / 2**20


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


# --- HTTP -----------------------------------------------------------------------------------


def register(url: str, flow: str) -> None:
    with httpx.Client(timeout=60, trust_env=False) as client:
        response = client.post(f"{url}/workflows", content=flow, headers={"content-type": "application/yaml"})
    if response.status_code not in (200, 201):
        raise BenchError(f"registering a workflow: {response.status_code} {response.text}")


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


def post_run(client: httpx.Client, url: str, workflow: str) -> str:
    response = client.post(f"{url}/runs", json={"workflow": workflow})
    if response.status_code != 201:
        raise BenchError(f"POST /runs answered {response.status_code}: {response.text}")
    return response.json()["id"]


def get_runs(url: str, ids: list[str], count: int) -> float:
    """GET /runs/{id} ``count`` times over the given runs; requests per second."""

    async def send(connect: Callable[[str], Connection], n: int) -> None:
        status, body = await connect(url).request("GET", f"/runs/{ids[n % len(ids)]}")
        if status != 200:
            raise BenchError(f"GET /runs/{{id}} answered {status}: {body.decode(errors='replace')}")

    return count / asyncio.run(burst(count, GET_CONNECTIONS, send))


def wait_final(database: Database, fleet: list[Instance], runs: int) -> None:
    """Until ``runs`` runs are final; fail if an instance dies or nothing moves for a while."""
    seen, moved = (-1, -1), time.monotonic()
    while True:
        progress = database.progress()
        if progress[0] >= runs:
            return
        if progress != seen:
            seen, moved = progress, time.monotonic()
        elif time.monotonic() - moved > STALL_SECONDS:
            raise BenchError(f"no progress for {STALL_SECONDS:.0f} s: {progress[0]} of {runs} runs final")
        for instance in fleet:
            instance.check_alive()
        time.sleep(0.1)


def wait_run_final(database: Database, instance: Instance, run_id: str) -> None:
    deadline = time.monotonic() + STALL_SECONDS
    while database.run_status(run_id) not in ("succeeded", "failed", "cancelled"):
        if time.monotonic() > deadline:
            raise BenchError(f"run {run_id} not final after {STALL_SECONDS:.0f} s")
        instance.check_alive()
        time.sleep(0.001)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# --- figures --------------------------------------------------------------------------------

Sample = dict[tuple[str, str], float]  # (variant, metric) -> one repetition's value


def unit_of(metric: str) -> str:
    if metric.endswith("_per_s"):
        return {
            "steps": "steps/s",
            "runs": "runs/s",
            "items": "items/s",
            "requests": "req/s",
            "jobs": "jobs/s",
        }.get(metric.split("_")[0], "/s")
    if metric.startswith("rss") or metric in ("idle_rss", "binary_size"):
        return "MiB"
    if metric == "idle_cpu":
        return "% of a core"
    if metric == "ratio":
        return "x"
    return "ms"


def target_met(target: str | None, value: float | None) -> bool | None:
    match = re.fullmatch(r"(>=|<=) ([\d.]+)", target or "")
    if not match or value is None:
        return None
    bound = float(match[2])
    return value >= bound if match[1] == ">=" else value <= bound


def record(
    workload: str,
    variant: str,
    metric: str,
    value: float | None,
    database: str | None,
    samples: list[float],
    target: str | None = None,
    unit: str | None = None,
    **extra: Any,
) -> dict:
    target = (
        target
        or TARGETS.get((workload, variant, metric, database))
        or TARGETS.get((workload, variant, metric, None))
    )
    found: dict[str, Any] = {
        "workload": workload,
        "variant": variant,
        "metric": metric,
        "value": value,
        "unit": unit or unit_of(metric),
        "database": database,
    }
    if target:
        found |= {"target": target, "target_met": target_met(target, value)}
    return found | {"samples": samples, **extra}


def emit(found: dict, repeat: int) -> None:
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in found.items()}
    rounded["samples"] = [round(s, 3) if isinstance(s, float) else s for s in found["samples"]]
    print(json.dumps({**rounded, "cores": os.cpu_count(), "repeat": repeat}), flush=True)


# --- the suite ------------------------------------------------------------------------------


@dataclass
class Burst:
    """What one submission of a ``Load`` gave: units/s from the database, and client req/s."""

    units_per_s: float
    posts_per_s: float
    gets_per_s: float


@dataclass
class Suite:
    databases: list[str]
    repeat: int
    sizes: Sizes
    quick: bool
    idle: float
    concurrency: int | None
    templates: dict[str, str] = field(default_factory=dict)  # kind -> migrated template
    figures: list[dict] = field(default_factory=list)

    def add(self, found: dict) -> None:
        self.figures.append(found)
        emit(found, self.repeat)

    def measure(self, workload: str, database: str, once: Callable[[], Sample], **extra: Any) -> None:
        """Run ``once`` ``repeat`` times; one figure (the median) per (variant, metric) it gives."""
        samples: dict[tuple[str, str], list[float]] = {}
        for n in range(self.repeat):
            what = f"{workload} {extra.get('shape', '')}".strip()
            note(f"{what} on {database}: repetition {n + 1} of {self.repeat}")
            for key, value in once().items():
                samples.setdefault(key, []).append(value)
        for (variant, metric), values in samples.items():
            self.add(record(workload, variant, metric, statistics.median(values), database, values, **extra))

    @contextmanager
    def serving(
        self, kind: str, load: Load, instances: int = 1, command: list[str] = CLI
    ) -> Iterator[tuple[Database, list[Instance]]]:
        """A fresh database of ``kind`` served by ``instances`` executors, ``load``'s workflow registered."""
        with (
            fresh_database(kind, self.templates[kind]) as database,
            service(database, instances, command, self.concurrency) as fleet,
        ):
            register(fleet[0].url, load.flow)
            yield database, fleet

    def burst(self, kind: str, load: Load, instances: int = 1, gets: int = 0) -> Burst:
        """Submit ``load`` at once (round-robin over the instances) and wait until every run is final."""
        with self.serving(kind, load, instances) as (database, fleet):
            ids, post_seconds = submit([i.url for i in fleet], load.name, load.runs)
            wait_final(database, fleet, load.runs)
            database.require_success(load.runs)
            units_per_s = load.units / database.span()
            gets_per_s = get_runs(fleet[0].url, ids, gets) if gets else 0.0
        return Burst(units_per_s, load.runs / post_seconds, gets_per_s)

    def rate(self, workload: str, kind: str, variant: str, load: Load, instances: int = 1) -> None:
        metric = "items_per_s" if workload == "fanout" else "steps_per_s"

        def once() -> Sample:
            return {(variant, metric): self.burst(kind, load, instances).units_per_s}

        self.measure(workload, kind, once, shape=load.shape)

    def steps(self, kind: str) -> None:
        self.rate("steps", kind, "chain_long", chain_load(1, self.sizes.chain_long))
        self.rate("steps", kind, "chains", chain_load(self.sizes.chains, CHAIN_LENGTH))

    def runs(self, kind: str) -> None:
        load, gets = chain_load(self.sizes.single_runs, 1), self.sizes.get_requests

        def once() -> Sample:
            burst = self.burst(kind, load, gets=gets)
            return {
                ("single_step", "runs_per_s"): burst.units_per_s,
                ("POST /runs", "requests_per_s"): burst.posts_per_s,
                ("GET /runs/{id}", "requests_per_s"): burst.gets_per_s,
            }

        shape = f"{load.shape}, {CONNECTIONS} connections; then {gets} GETs, {GET_CONNECTIONS} connections"
        self.measure("runs", kind, once, shape=shape)

    def fanout(self, kind: str) -> None:
        self.rate("fanout", kind, "for_each", fanout_load(self.sizes.fanout_items))

    def latency_once(self, kind: str, variant: str, instances: int = 1) -> Sample:
        """Single-step runs one at a time on an idle service: p50/p99 from the database's timestamps."""
        load = chain_load(LATENCY_WARMUP + self.sizes.latency_runs, 1)
        with (
            self.serving(kind, load, instances) as (database, fleet),
            httpx.Client(trust_env=False) as client,
        ):
            time.sleep(0.5)  # let start-up work settle
            sent: dict[str, float] = {}  # run id -> when its POST was sent (this host's clock)
            for n in range(load.runs):
                instance = fleet[n % len(fleet)]
                began = time.time()
                run_id = post_run(client, instance.url, load.name)
                sent[run_id] = began
                wait_run_final(database, instance, run_id)
            database.require_success(load.runs)
            times = database.latencies()
        measured = [(sent[i], *times[i]) for i in list(sent)[LATENCY_WARMUP:]]
        series = {
            "post_to_first_step": [started - created for _, created, started, _ in measured],
            "post_to_finished": [finished - created for _, created, _, finished in measured],
            "sent_to_first_step": [started - began for began, _, started, _ in measured],
        }
        return {
            (variant, f"{name}_{p}"): percentile(values, fraction) * 1000
            for name, values in series.items()
            for p, fraction in (("p50", 0.5), ("p99", 0.99))
        }

    def latency(self, kind: str) -> None:
        shape = f"{self.sizes.latency_runs} single-step runs, one at a time"
        self.measure("latency", kind, lambda: self.latency_once(kind, "idle"), shape=shape)

    def fleet(self, kind: str) -> None:
        if kind != "postgres":
            return
        load = chain_load(self.sizes.chains, CHAIN_LENGTH)
        for size in (1, 2, 3):
            self.rate("fleet", kind, f"{size}_instance{'s' * (size > 1)}", load, instances=size)
        shape = f"{self.sizes.latency_runs} single-step runs, one at a time, round-robin"
        self.measure("fleet", kind, lambda: self.latency_once(kind, "3_instances_idle", 3), shape=shape)

    def idle_footprint(self, kind: str, command: list[str], variant: str) -> Sample:
        with (
            fresh_database(kind, self.templates[kind]) as database,
            service(database, 1, command, self.concurrency) as [instance],
        ):
            pid = instance.process.pid
            time.sleep(0.5)  # let start-up work settle before calling the process idle
            before = cpu_seconds(pid)
            time.sleep(self.idle)
            cpu = (cpu_seconds(pid) - before) / self.idle * 100
            rss = rss_mib(pid)
            stop = instance.stop()
            if instance.exit_code != 0:
                raise BenchError(f"{variant} exited {instance.exit_code} on SIGTERM: {instance.log_tail()}")
        return {
            (variant, "launch_to_ready"): instance.ready_seconds * 1000,
            (variant, "idle_rss"): rss,
            (variant, "idle_cpu"): cpu,
            (variant, "sigterm_to_exit"): stop * 1000,
        }

    def rss_after_runs(self, kind: str) -> Sample:
        half = chain_load(self.sizes.rss_runs // 2, 1)
        with self.serving(kind, half) as (database, [instance]):
            time.sleep(0.5)
            found = {("cli", "rss_before_runs"): rss_mib(instance.process.pid)}
            for done in (half.runs, 2 * half.runs):
                submit([instance.url], half.name, half.runs)
                wait_final(database, [instance], done)
                found[("cli", f"rss_after_{done}_runs")] = rss_mib(instance.process.pid)
            database.require_success(2 * half.runs)
        return found

    def footprint(self, kind: str) -> None:
        first = kind == self.databases[0]
        variants = [(CLI, "cli")]
        if BINARY.is_file():
            variants.append(([str(BINARY)], "binary"))
            size = BINARY.stat().st_size / 2**20
            if first:
                self.add(record("footprint", "binary", "binary_size", size, None, [size]))
        elif first:
            note(f"no {BINARY}; run scripts/build-binary to measure the binary")
        for command, variant in variants:
            once = functools.partial(self.idle_footprint, kind, command, variant)
            self.measure("footprint", kind, once, shape=f"{variant}: launch, {self.idle:g} s idle, SIGTERM")
        shape = f"{2 * (self.sizes.rss_runs // 2)} single-step runs, half at a time"
        self.measure("footprint", kind, lambda: self.rss_after_runs(kind), shape=shape)

    def peers(self) -> None:
        if not PEERS.exists():
            note(f"{PEERS} does not exist yet: no peer figures and no ratios")
            return
        command = [str(PEERS), "--repeat", str(self.repeat), *(["--quick"] if self.quick else [])]
        note(f"peers: {' '.join(command[1:])}")
        result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # stderr shows
        if result.returncode != 0:
            note(f"{PEERS.name} exited {result.returncode}; keeping the figures it printed")
        for found in peer_figures(result.stdout.splitlines()):
            if found["database"] in self.databases:
                self.add(found)

    def ratios(self) -> None:
        for found in ratios(self.figures):
            self.add(found)


def peer_figures(lines: list[str]) -> list[dict]:
    """scripts/bench-peers' JSON lines as ``peers`` figures (other lines are ignored)."""
    found = []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            peer = json.loads(line)
            system, workload, metric = peer.pop("system"), peer.pop("workload"), peer.pop("metric")
            database, value, samples = peer.pop("database"), peer.pop("value", None), peer.pop("samples", [])
        except (ValueError, KeyError) as exc:
            note(f"ignoring a line from {PEERS.name} ({exc!r}): {line}")
            continue
        extra = {k: v for k, v in peer.items() if k not in ("variant", "cores", "repeat", "target")}
        extra |= {"system": system, "peer_workload": workload}
        found.append(record("peers", f"{system} {workload}", metric, value, database, samples, **extra))
    return found


def is_peer(figure: dict, system: str, workload: str, metric: str, database: str) -> bool:
    """Whether ``figure`` is the peers' ``workload`` ``metric`` on ``database`` by ``system``
    or a variant of it (dbos-sqlite, dbos-sqlite-wal and dbos-postgres for dbos)."""
    return (
        figure["workload"] == "peers"
        and figure["system"].split("-")[0] == system
        and (figure["peer_workload"], figure["metric"], figure["database"]) == (workload, metric, database)
    )


def ratios(figures: list[dict]) -> list[dict]:
    """Executor / peer for each pair in RATIOS measured in this run, on the same database."""
    found = []
    for (workload, variant, metric), (system, peer_workload, peer_metric), target in RATIOS:
        for ours in figures:
            if (ours["workload"], ours["variant"], ours["metric"]) != (workload, variant, metric):
                continue
            for peer in figures:
                if not is_peer(peer, system, peer_workload, peer_metric, ours["database"]):
                    continue
                value = ours["value"] / peer["value"] if ours["value"] and peer["value"] else None
                label = f"{variant} / {peer['system']} {peer_workload}"
                names = {
                    "executor": f"{workload} {variant} {metric}",
                    "peer": f"{peer['system']} {peer_workload}",
                }
                found.append(record("ratio", label, "ratio", value, ours["database"], [], target, **names))
    return found


# --- command line ---------------------------------------------------------------------------


def table(figures: list[dict], repeat: int) -> None:
    print(f"\nExecutor benchmark: {os.cpu_count()} cores, median of {repeat} repetition{'s' * (repeat > 1)}")
    variant = max([len("variant"), *(len(f["variant"]) for f in figures)])
    metric = max([len("metric"), *(len(f["metric"]) for f in figures)])
    header = f"{'workload':<9} {'variant':<{variant}} {'database':<8} {'metric':<{metric}} {'value':>9}  {'unit':<11} target"
    print(header + "\n" + "-" * (len(header) + 20))
    for f in figures:
        value = "n/a" if f["value"] is None else f"{f['value']:,.{2 if abs(f['value']) < 100 else 0}f}"
        mark = {True: " (met)", False: " (MISSED)", None: ""}[f.get("target_met")]
        where = (
            f"{f['workload']:<9} {f['variant']:<{variant}} {f['database'] or '-':<8} {f['metric']:<{metric}}"
        )
        print(f"{where} {value:>9}  {f['unit']:<11} {f.get('target', '')}{mark}")
    sizes: dict[tuple[str, str], list[str]] = {}
    for f in figures:
        if "shape" in f and f["variant"] not in sizes.setdefault((f["workload"], f["shape"]), []):
            sizes[(f["workload"], f["shape"])].append(f["variant"])
    print("\nsizes:")
    for (workload, shape), variants in sizes.items():
        print(f"  {workload} {', '.join(variants)}: {shape}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    only = f"run only these workloads ({', '.join(WORKLOADS)}); comma-separated, repeatable"
    parser.add_argument("--only", action="extend", type=lambda s: s.split(","), metavar="NAMES", help=only)
    parser.add_argument("--database", choices=DATABASES, help="only this database (default: both)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions per figure, median reported (default 3)"
    )
    quick = "tiny sizes, 1 repetition, 0.5 s idle window; skips peers unless --only names them"
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument(
        "--idle", type=float, default=30.0, help="seconds of idle to measure CPU over (default 30)"
    )
    parser.add_argument("--concurrency", type=int, help="passed to the service (default: the service's own)")
    args = parser.parse_args()
    unknown = set(args.only or []) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(sorted(unknown))}; choose from {', '.join(WORKLOADS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def databases(requested: str | None) -> list[str]:
    problem = postgres_problem() if requested in (None, "postgres") else None
    if problem and requested == "postgres":
        raise BenchError(problem)
    if problem:
        note(f"{problem}: measuring SQLite only")
        return ["sqlite"]
    return [requested] if requested else list(DATABASES)


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every finally block runs
    only = args.only or [w for w in WORKLOADS if not (args.quick and w == "peers")]
    began = time.perf_counter()
    try:
        suite = Suite(
            databases(args.database),
            repeat=1 if args.quick else args.repeat,
            sizes=QUICK if args.quick else FULL,
            quick=args.quick,
            idle=0.5 if args.quick else args.idle,
            concurrency=args.concurrency,
        )
        if "fleet" in only and "postgres" not in suite.databases:
            note("fleet needs PostgreSQL: skipped")
        with templates(suite.databases if set(only) - {"peers"} else []) as migrated:
            suite.templates = migrated
            for workload in (w for w in WORKLOADS if w in only):
                if workload == "peers":
                    suite.peers()
                    continue
                for kind in suite.databases:
                    getattr(suite, workload)(kind)  # Suite.steps, Suite.runs, ...
        suite.ratios()
    except BenchError as exc:
        note(f"error: {exc}")
        return 1
    table(suite.figures, suite.repeat)
    note(f"done in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Executor's benchmark suite (run it with scripts/bench).

Prints a table and one JSON line per measurement (``{"workload", "metric", "value",
"unit", "target", ...}``). Every figure is the median of ``--repeat`` runs. Timing lives here,
never in pass/fail tests.

Workloads so far:
  footprint  binary size, launch to /health 200, idle RSS, idle CPU, SIGTERM to exit
  engine     durable steps per second on SQLite, in-process engine (no HTTP):
             one run of an N-step chain of noop steps; N single-step runs submitted at once
  api        requests per second for POST /runs and GET /runs/{id} against the service
             (SQLite), the load coming from a separate process (this script, --load mode)
  fleet      PostgreSQL (EXECUTOR_BENCH_POSTGRES, default 127.0.0.1:5432): steps per second for
             200 runs of a 10-step noop chain with 1, 2 and 3 instances; latency from
             POST /runs to the first step starting on an idle fleet of 3 (p50, p99)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BINARY = ROOT / "dist" / "executor"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the one-file binary runs Executor in a child process)."""
    found = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += tree(int(child))
    return found


def rss_bytes(pid: int) -> int:
    total = 0
    for member in tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


def launch(command: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start a migrated instance; return it, its URL, and seconds from launch to /health 200."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")}
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--skip-migrations", "--port", str(port), "--log-level", "warning"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = started + 30
    with httpx.Client(timeout=1) as client:
        while True:
            try:
                if client.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit(f"{command} did not become ready")
            time.sleep(0.002)
    return process, url, time.perf_counter() - started


def footprint(command: list[str], label: str, repeat: int, idle_seconds: float) -> list[dict]:
    ready, rss, cpu, stop = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        subprocess.run([*command, "migrate"], cwd=workdir, check=True, capture_output=True)
        for _ in range(repeat):
            process, _, seconds = launch(command, workdir)
            ready.append(seconds)
            time.sleep(0.5)  # let start-up work settle before calling the process idle
            before = cpu_seconds(process.pid)
            time.sleep(idle_seconds)
            cpu.append((cpu_seconds(process.pid) - before) / idle_seconds * 100)
            rss.append(rss_bytes(process.pid) / 2**20)
            began = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            code = process.wait(60)
            stop.append(time.perf_counter() - began)
            if code != 0:
                raise SystemExit(f"{label} exited {code} on SIGTERM")
    median = statistics.median
    return [
        {
            "workload": "footprint",
            "variant": label,
            "metric": "launch_to_ready",
            "value": median(ready) * 1000,
            "unit": "ms",
            "target": "<= 1000 (binary)",
        },
        {
            "workload": "footprint",
            "variant": label,
            "metric": "idle_rss",
            "value": median(rss),
            "unit": "MiB",
        },
        {
            "workload": "footprint",
            "variant": label,
            "metric": "idle_cpu",
            "value": median(cpu),
            "unit": "% of a core",
            "window_s": idle_seconds,
        },
        {
            "workload": "footprint",
            "variant": label,
            "metric": "sigterm_to_exit",
            "value": median(stop) * 1000,
            "unit": "ms",
        },
    ]


def chain_flow(steps: int) -> str:
    lines = ["name: chain", "steps:", "  - {id: s0, action: noop}"]
    lines += [f"  - {{id: s{i}, action: noop, needs: [s{i - 1}]}}" for i in range(1, steps)]
    return "\n".join(lines) + "\n"


async def _engine_throughput(url: str, flow: str, runs: int) -> float:
    """Seconds from submitting ``runs`` runs of ``flow`` to all of them finished."""
    from executor import migrate
    from executor.engine.engine import Engine
    from executor.settings import DatabaseURL
    from executor.store import create_store
    from executor.workflow import parse_workflow

    database = DatabaseURL.parse(url)
    migrate.apply(database)
    store = create_store(database)
    await store.open()
    engine = Engine(store, instance_id="bench", concurrency=16, poll_interval=1.0, lease=30.0, secrets={})
    workflow = parse_workflow(flow)
    await engine.register(workflow, flow)
    pending: set[str] = set()
    finished = asyncio.Event()

    def on_event(event: tuple) -> None:
        kind, run_id, _, data = event
        if kind == "run" and data["status"] in ("succeeded", "failed", "cancelled"):
            pending.discard(run_id)
            if not pending:
                finished.set()

    engine.listeners.append(on_event)
    loop_task = asyncio.create_task(engine.loop.run())
    started = time.perf_counter()
    ids = [(await engine.submit(workflow.name, {}))[0].id for _ in range(runs)]
    pending.update(ids)
    for run_id in list(pending):  # runs that finished before we started listening
        if (await engine.get(run_id))[0].status == "succeeded":
            pending.discard(run_id)
    if pending:
        await finished.wait()
    took = time.perf_counter() - started
    await engine.loop.drain(0)
    await loop_task
    failed = [r for r in ids if (await engine.get(r))[0].status != "succeeded"]
    await store.close()
    if failed:
        raise SystemExit(f"{len(failed)} benchmark runs did not succeed")
    return took


def engine_workloads(repeat: int, chain: int, single: int) -> list[dict]:
    results = []
    for label, flow, runs, steps in [
        (f"chain_{chain}_noop", chain_flow(chain), 1, chain),
        (f"{single}_single_step_runs", chain_flow(1), single, single),
    ]:
        rates = []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                took = asyncio.run(_engine_throughput(f"sqlite:///{tmp}/bench.db", flow, runs))
            rates.append(steps / took)
        results.append(
            {
                "workload": "engine",
                "variant": label,
                "metric": "steps_per_second",
                "value": statistics.median(rates),
                "unit": "steps/s",
                "database": "sqlite",
            }
        )
    return results


async def _load(url: str, method: str, body: str | None, seconds: float, connections: int) -> dict:
    """Keep ``connections`` requests in flight for ``seconds``; count the answers."""
    done, errors, latencies = 0, 0, []
    stop_at = time.perf_counter() + seconds
    content = body.encode() if body else None
    headers = {"content-type": "application/json"} if body else {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            response = await client.request(method, url, content=content, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 400:
                errors += 1
            done += 1

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(connections)))
        took = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": done,
        "errors": errors,
        "rps": done / took,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def api_workloads(repeat: int, seconds: float, connections: int) -> list[dict]:
    flow = "name: api_bench\nsteps:\n  - {id: a, action: noop}\n"
    results = []
    post, get = [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        command = [sys.executable, "-m", "executor"]
        subprocess.run([*command, "migrate"], cwd=workdir, check=True, capture_output=True)
        process, url, _ = launch(command, workdir)
        try:
            with httpx.Client(base_url=url, timeout=30) as client:
                client.post(
                    "/workflows", content=flow, headers={"content-type": "application/yaml"}
                ).raise_for_status()
                run_id = client.post("/runs", json={"workflow": "api_bench"}).json()["id"]
            for _ in range(repeat):
                for method, path, body, into in [
                    ("POST", "/runs", json.dumps({"workflow": "api_bench"}), post),
                    ("GET", f"/runs/{run_id}", None, get),
                ]:
                    loader = subprocess.run(
                        [sys.executable, __file__, "--load", url + path, "--method", method,
                         "--body", body or "", "--seconds", str(seconds), "--connections", str(connections)],
                        capture_output=True, text=True, check=True,
                    )  # fmt: skip
                    into.append(json.loads(loader.stdout))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    for label, samples in (("POST /runs", post), ("GET /runs/{id}", get)):
        median = statistics.median(s["rps"] for s in samples)
        p50 = statistics.median(s["p50_ms"] for s in samples)
        errors = sum(s["errors"] for s in samples)
        results.append({"workload": "api", "variant": label, "metric": "requests_per_second", "value": median, "unit": "req/s",
                        "database": "sqlite", "connections": connections, "p50_ms": round(p50, 2), "errors": errors})  # fmt: skip
    return results


POSTGRES = os.environ.get("EXECUTOR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _fleet(db_url: str, workdir: Path, size: int) -> list[tuple[subprocess.Popen[bytes], str]]:
    command = [sys.executable, "-m", "executor"]
    fleet = []
    for index in range(size):
        folder = workdir / f"i{index}"
        folder.mkdir(exist_ok=True)
        process, url, _ = launch([*command, "--database", db_url, "--poll-interval", "1s"], folder)
        fleet.append((process, url))
    return fleet


def _database(name: str) -> str:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES.rsplit("/", 1)[0] + "/" + name
    subprocess.run(
        [sys.executable, "-m", "executor", "migrate", "--database", url], check=True, capture_output=True
    )
    return url


def _drop(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stop(fleet: list[tuple[subprocess.Popen[bytes], str]]) -> None:
    for process, _ in fleet:
        process.send_signal(signal.SIGTERM)
    for process, _ in fleet:
        process.wait(60)


def _wait_all_finished(db_url: str, total: int) -> None:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            done = conn.execute(
                "SELECT count(*) FROM runs WHERE status IN ('succeeded','failed','cancelled')"
            ).fetchone()[0]
            if done >= total:
                failed = conn.execute("SELECT count(*) FROM runs WHERE status <> 'succeeded'").fetchone()[0]
                if failed:
                    raise SystemExit(f"{failed} fleet benchmark runs did not succeed")
                return
            time.sleep(0.05)


def fleet_workloads(repeat: int, runs: int, chain: int, latency_samples: int) -> list[dict]:
    flow = chain_flow(chain)
    results = []
    for size in (1, 2, 3):
        rates = []
        for attempt in range(repeat):
            name = f"executor_bench_{os.getpid()}_{size}_{attempt}"
            db_url = _database(name)
            with tempfile.TemporaryDirectory() as tmp:
                fleet = _fleet(db_url, Path(tmp), size)
                try:
                    with httpx.Client(timeout=30) as client:
                        client.post(
                            f"{fleet[0][1]}/workflows",
                            content=flow,
                            headers={"content-type": "application/yaml"},
                        ).raise_for_status()
                    started = time.perf_counter()
                    asyncio.run(_submit_many([url for _, url in fleet], runs))
                    _wait_all_finished(db_url, runs)
                    rates.append(runs * chain / (time.perf_counter() - started))
                finally:
                    _stop(fleet)
                    _drop(name)
        results.append({"workload": "fleet", "variant": f"{size}_instance{'s' if size > 1 else ''}", "metric": "steps_per_second",
                        "value": statistics.median(rates), "unit": "steps/s", "database": "postgres",
                        "shape": f"{runs} runs x {chain}-step noop chain"})  # fmt: skip
    results += _fleet_latency(latency_samples)
    return results


async def _submit_many(urls: list[str], runs: int) -> None:
    semaphore = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(n: int) -> None:
            async with semaphore:
                response = await client.post(f"{urls[n % len(urls)]}/runs", json={"workflow": "chain"})
                response.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(runs)))


def _fleet_latency(samples: int) -> list[dict]:
    import psycopg

    name = f"executor_bench_{os.getpid()}_latency"
    db_url = _database(name)
    latencies = []
    with tempfile.TemporaryDirectory() as tmp:
        fleet = _fleet(db_url, Path(tmp), 3)
        try:
            with httpx.Client(timeout=30) as client, psycopg.connect(db_url, autocommit=True) as conn:
                client.post(
                    f"{fleet[0][1]}/workflows",
                    content=chain_flow(1),
                    headers={"content-type": "application/yaml"},
                ).raise_for_status()
                time.sleep(1.0)  # idle
                for n in range(samples):
                    sent = time.time()
                    run_id = client.post(f"{fleet[n % 3][1]}/runs", json={"workflow": "chain"}).json()["id"]
                    while True:
                        row = conn.execute(
                            "SELECT extract(epoch FROM started_at)::float8 FROM steps WHERE run_id = %s AND started_at IS NOT NULL",
                            (run_id,),
                        ).fetchone()
                        if row:
                            latencies.append(row[0] - sent)
                            break
                        time.sleep(0.001)
        finally:
            _stop(fleet)
            _drop(name)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    return [
        {
            "workload": "fleet",
            "variant": "3_instances_idle",
            "metric": "post_to_first_step_p50",
            "value": p50 * 1000,
            "unit": "ms",
            "database": "postgres",
        },
        {
            "workload": "fleet",
            "variant": "3_instances_idle",
            "metric": "post_to_first_step_p99",
            "value": p99 * 1000,
            "unit": "ms",
            "database": "postgres",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per figure (median reported)")
    parser.add_argument(
        "--quick", action="store_true", help="a seconds-long smoke run (1 repetition, short windows)"
    )
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle to measure CPU over")
    parser.add_argument(
        "--only",
        choices=["footprint", "engine", "api", "fleet"],
        action="append",
        help="run only these workloads (repeatable)",
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)  # load-generator mode (a separate process)
    parser.add_argument("--method", default="GET", help=argparse.SUPPRESS)
    parser.add_argument("--body", default="", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=16, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(
            json.dumps(
                asyncio.run(_load(args.load, args.method, args.body or None, args.seconds, args.connections))
            )
        )
        return
    repeat, idle = (1, 0.5) if args.quick else (args.repeat, args.idle)
    only = set(args.only or ["footprint", "engine", "api", "fleet"])

    results: list[dict] = []
    if "fleet" in only:
        quick = args.quick
        results += fleet_workloads(
            repeat, runs=10 if quick else 200, chain=3 if quick else 10, latency_samples=5 if quick else 200
        )
    if "api" in only:
        results += api_workloads(repeat, seconds=1.0 if args.quick else 5.0, connections=16)
    if "engine" in only:
        size = 20 if args.quick else 1000
        results += engine_workloads(repeat, chain=size, single=size)
    if "footprint" not in only:
        _report(results, repeat)
        return
    variants = [([sys.executable, "-m", "executor"], "cli")]
    if BINARY.is_file():
        size = BINARY.stat().st_size / 2**20
        results.append(
            {
                "workload": "footprint",
                "variant": "binary",
                "metric": "binary_size",
                "value": size,
                "unit": "MiB",
            }
        )
        variants.append(([str(BINARY)], "binary"))
    else:
        print(f"note: no {BINARY}; run scripts/build-binary to measure the binary", file=sys.stderr)
    for command, label in variants:
        results += footprint(command, label, repeat, idle)

    _report(results, repeat)


def _report(results: list[dict], repeat: int) -> None:
    machine = {"cores": os.cpu_count(), "repeat": repeat}
    print(
        f"{'workload':<10} {'variant':<26} {'metric':<17} {'value':>10}  unit   (cores: {os.cpu_count()}, median of {repeat})"
    )
    for r in results:
        print(f"{r['workload']:<10} {r['variant']:<26} {r['metric']:<17} {r['value']:>10.1f}  {r['unit']}")
    for r in results:
        print(json.dumps({**r, "value": round(r["value"], 3), **machine}))


if __name__ == "__main__":
    main()

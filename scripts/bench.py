"""Executor's benchmark suite (run it with scripts/bench).

Prints a table and one JSON line per measurement (``{"workload", "metric", "value",
"unit", "target", ...}``). Every figure is the median of ``--repeat`` runs. Timing lives here,
never in pass/fail tests.

Workloads so far:
  footprint  binary size, launch to /health 200, idle RSS, idle CPU, SIGTERM to exit
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per figure (median reported)")
    parser.add_argument(
        "--quick", action="store_true", help="a seconds-long smoke run (1 repetition, short windows)"
    )
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle to measure CPU over")
    args = parser.parse_args()
    repeat, idle = (1, 0.5) if args.quick else (args.repeat, args.idle)

    results: list[dict] = []
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

    machine = {"cores": os.cpu_count(), "repeat": repeat}
    print(
        f"{'workload':<10} {'variant':<7} {'metric':<16} {'value':>10}  unit   (cores: {os.cpu_count()}, median of {repeat})"
    )
    for r in results:
        print(f"{r['workload']:<10} {r['variant']:<7} {r['metric']:<16} {r['value']:>10.1f}  {r['unit']}")
    for r in results:
        print(json.dumps({**r, "value": round(r["value"], 3), **machine}))


if __name__ == "__main__":
    main()

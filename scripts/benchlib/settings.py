"""What the suite runs against and how big: paths, the PostgreSQL server, the environment of
the executor processes, the workload names, and the full and quick sizes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "executor"]
BINARY = Path(os.environ.get("EXECUTOR_BINARY", ROOT / "dist" / "executor"))
PEERS = Path(os.environ.get("EXECUTOR_BENCH_PEERS", ROOT / "scripts" / "bench-peers"))
POSTGRES = os.environ.get("EXECUTOR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = ("sqlite", "postgres")
WORKLOADS = (
    "steps",
    "runs",
    "fanout",
    "latency",
    "fleet",
    "workers",
    "footprint",
    "purge",
    "schedules",
    "dashboard",
    "history",
    "artifacts",
    "peers",
)


def service_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_")}


@dataclass(frozen=True)
class Sizes:
    chain_long: int = 2000
    chains: int = 200
    single_runs: int = 2000
    batched_runs: int = 5000  # single-step runs submitted with POST /runs/batch
    batch_size: int = 1000  # runs per POST /runs/batch
    get_requests: int = 2000
    fanout_items: int = 5000
    latency_runs: int = 500
    rss_runs: int = 10000
    purge_runs: int = 100_000  # `--purge-runs N` for another
    schedule_seconds: int = 60  # how long the schedules workload lets a 1 s schedule fire
    artifact_mib: int = 200  # the size of the artifact the artifacts workload uploads and downloads
    history_runs: int = 1_000_000  # finished 10-step runs the history workload fills
    history_claims: int = 500
    history_posts: int = 300
    history_gets: int = 200  # of each list


FULL = Sizes()
QUICK = Sizes(
    chain_long=50,
    chains=20,
    single_runs=200,
    batched_runs=200,
    batch_size=100,
    get_requests=100,
    fanout_items=50,
    latency_runs=10,
    rss_runs=200,
    purge_runs=500,
    schedule_seconds=4,
    artifact_mib=8,
    history_runs=2000,
    history_claims=50,
    history_posts=20,
    history_gets=20,
)

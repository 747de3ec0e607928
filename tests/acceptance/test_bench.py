"""scripts/bench --quick on each database, so that the benchmark cannot rot unnoticed: every
workload gives its figures, with sane values. Timing lives in the benchmark, never here; the
peers are stood in for by a script printing canned JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import ADMIN_URL, require_postgres
from tests.support.process import BINARY, ROOT, clean_env

# Every test runs the benchmark, if only its quick form.
pytestmark = pytest.mark.slow

LATENCY = [
    f"{span}_{p}"
    for span in ("post_to_first_step", "post_to_finished", "sent_to_first_step")
    for p in ("p50", "p99")
]
IDLE = ["launch_to_ready", "idle_rss", "idle_cpu", "sigterm_to_exit"]
DASHBOARD_PAGES = [
    "runs",
    "runs_page_2",
    "runs_failed",
    "runs_scheduled",
    "runs_of_workflow",
    "runs_recent_tenth",
    "workflows",
    "run",
]
# (workload, variant, metric) of every figure a quick run gives, per database
EVERY_DATABASE = {
    ("steps", "chain_long", "steps_per_s"),
    ("steps", "chains", "steps_per_s"),
    ("runs", "single_step", "runs_per_s"),
    ("runs", "POST /runs", "requests_per_s"),
    ("runs", "GET /runs/{id}", "requests_per_s"),
    ("runs", "single_step_batched", "runs_per_s"),
    ("runs", "POST /runs/batch", "runs_per_s"),
    ("fanout", "for_each", "items_per_s"),
    *(
        ("workers", f"{action}_{count}", "steps_per_s")
        for action in ("noop", "shell")
        for count in ("1_worker", "2_workers")
    ),
    *(("latency", "idle", metric) for metric in LATENCY),
    *(("footprint", "cli", metric) for metric in IDLE),
    *(("footprint", "cli", f"rss_{when}_runs") for when in ("before", "after_100", "after_200")),
    ("purge", "purge", "runs_per_s"),
    *(("purge", "claims", f"claim_{when}_{p}") for when in ("idle", "during_purge") for p in ("p50", "p99")),
    *(
        ("schedules", variant, f"tick_to_{what}_{p}")
        for variant in ("one_instance", "fleet_of_2")
        for what in ("created", "first_step")
        for p in ("p50", "p99")
    ),
    *(("dashboard", page, f"render_{p}_ms") for page in DASHBOARD_PAGES for p in ("p50", "p95")),
    ("history", "history", "bytes_per_run"),
    ("history", "history", "build_s"),
    *(
        ("history", variant, f"{what}_{p}")
        for variant in ("empty", "history")
        for what in ("claim", "post", "run", "list")
        for p in ("p50", "p99")
    ),
    *(("history", "history", f"list_{which}_{p}") for which in ("busy", "rare") for p in ("p50", "p99")),
    *(("history", "history_vs_empty", f"{what}_p99_ratio") for what in ("claim", "post", "run")),
    *(
        ("history", "history_vs_empty", f"{which}_{p}_ratio")
        for which in ("list", "list_busy", "list_rare")
        for p in ("p50", "p99")
    ),
    *(
        ("artifacts", storage, metric)
        for storage in ("chunks_in_db", "files_in_dir")
        for metric in (
            "upload_mib_per_s",
            "download_mib_per_s",
            "rss_before",
            "rss_peak_upload",
            "rss_peak_download",
        )
    ),
}
POSTGRES_ONLY = {
    *(("fleet", variant, "steps_per_s") for variant in ("1_instance", "2_instances", "3_instances")),
    *(("fleet", "3_instances_idle", metric) for metric in LATENCY),
}
BINARY_FIGURES = {("footprint", "binary", metric) for metric in IDLE}

# what scripts/bench-peers prints (the fields bench reads; value null: the peer could not measure)
PEERS = [
    ("chain", "dbos-sqlite", "sqlite", "steps_per_s", 50.0),
    ("chain", "dbos-sqlite-wal", "sqlite", "steps_per_s", 100.0),
    ("chain_long", "dbos-sqlite", "sqlite", "steps_per_s", None),
    ("jobs", "pgqueuer", "postgres", "jobs_per_s", 9.0),
]


def bench(*args: str, timeout: float = 110, **env: str) -> tuple[list[dict[str, Any]], str]:
    """Run scripts.benchlib (as scripts/bench does); its JSON figures and stderr. Fails unless it exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "scripts.benchlib", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(EXECUTOR_BENCH_POSTGRES=ADMIN_URL, EXECUTOR_BINARY=str(BINARY), **env),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "cores" in result.stdout  # the table's heading
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")], result.stderr


def sane(figure: dict[str, Any]) -> bool:
    value: float = figure["value"]
    metric: str = figure["metric"]
    if metric.endswith("_per_s"):
        return value > 0
    if metric.startswith("rss") or metric in ("idle_rss", "binary_size"):
        return 1 < value < 4096
    if metric == "idle_cpu":
        return 0 <= value <= 200
    return 0 <= value < 60_000  # milliseconds


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.timeout(240)
def test_quick_run_gives_every_workloads_figures(database: str, frozen_binary: Path) -> None:
    if database == "postgres":
        require_postgres()

    figures, _ = bench("--quick", "--database", database, timeout=220)

    found = {(f["workload"], f["variant"], f["metric"]) for f in figures}
    expected = EVERY_DATABASE | (POSTGRES_ONLY if database == "postgres" else set())
    expected |= BINARY_FIGURES if BINARY.is_file() else set()
    assert expected <= found, sorted(expected - found)
    assert not {f["workload"] for f in figures} & {"peers", "ratio"}  # --quick skips the peers
    for figure in figures:
        assert figure["database"] in (database, None), figure
        assert figure["cores"] >= 1 and figure["repeat"] == 1 and len(figure["samples"]) == 1, figure
        assert sane(figure), figure
    values = {(f["workload"], f["variant"], f["metric"]): f["value"] for f in figures}
    for (workload, variant, metric), value in values.items():
        if metric.endswith("_p50"):
            assert value <= values[(workload, variant, metric.replace("_p50", "_p99"))]
    targets = {(f["variant"], f["metric"]): f["target"] for f in figures if "target" in f}
    assert targets[("chains", "steps_per_s")] == (">= 5000" if database == "sqlite" else ">= 3000")


def test_peer_figures_and_ratios_come_from_bench_peers(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    peers = tmp_path / "bench-peers"
    keys = ("workload", "system", "database", "metric", "value")
    lines = "\n".join(json.dumps(dict(zip(keys, line, strict=True), unit="steps/s")) for line in PEERS)
    peers.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\necho 'starting peers'\ncat <<'EOF'\n{lines}\nEOF\n")
    peers.chmod(0o755)

    figures, _ = bench(
        "--quick", "--database", "sqlite", "--only", "steps,peers", EXECUTOR_BENCH_PEERS=str(peers)
    )

    assert calls.read_text().split() == ["--repeat", "1", "--quick"]
    by_key = {(f["workload"], f["variant"], f["database"]): f for f in figures}
    assert by_key[("peers", "dbos-sqlite chain", "sqlite")]["value"] == 50
    assert ("peers", "pgqueuer jobs", "postgres") not in by_key  # only the databases measured
    chains = by_key[("steps", "chains", "sqlite")]["value"]
    for system, peer_value in (("dbos-sqlite", 50), ("dbos-sqlite-wal", 100)):
        ratio = by_key[("ratio", f"chains / {system} chain", "sqlite")]
        assert ratio["metric"] == "ratio" and ratio["executor"] and ratio["peer"]
        assert ratio["value"] == pytest.approx(chains / peer_value, rel=0.01)
    assert by_key[("ratio", "chain_long / dbos-sqlite chain_long", "sqlite")]["value"] is None


def test_missing_bench_peers_is_a_note_not_a_failure(tmp_path: Path) -> None:
    figures, stderr = bench("--only", "peers", EXECUTOR_BENCH_PEERS=str(tmp_path / "absent"), timeout=30)

    assert figures == []
    assert "does not exist yet" in stderr

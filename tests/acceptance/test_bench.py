"""A seconds-long run of scripts/bench, so that the benchmark cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.process import ROOT, clean_env


def test_bench_quick_prints_a_json_line_per_figure() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    figures = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    metrics = {(f["variant"], f["metric"]) for f in figures}
    for metric in ("launch_to_ready", "idle_rss", "idle_cpu", "sigterm_to_exit"):
        assert ("cli", metric) in metrics
    assert all(f["value"] >= 0 and f["cores"] >= 1 for f in figures)

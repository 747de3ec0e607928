"""What a figure is: one dict per (workload, variant, metric, database) with its value, unit,
samples and, where issue #6 sets one, its target and whether it was met."""

from __future__ import annotations

import re
from typing import Any

Sample = dict[tuple[str, str], float]  # (variant, metric) -> one repetition's value

# Issue #6 (and #16) targets, keyed by (workload, variant, metric, database); database None: any.
TARGETS = {
    ("steps", "chains", "steps_per_s", "sqlite"): ">= 5000",
    ("steps", "chains", "steps_per_s", "postgres"): ">= 3000",
    ("runs", "single_step", "runs_per_s", "postgres"): ">= PgQueuer, >= 10x Procrastinate (ratios)",
    # Issue #16: batches of 1,000; PostgreSQL's, PgQueuer's 5,687 jobs/s (docs/performance.md).
    ("runs", "single_step_batched", "runs_per_s", "sqlite"): ">= 10000",
    ("runs", "single_step_batched", "runs_per_s", "postgres"): ">= 5687",
    ("footprint", "binary", "launch_to_ready", None): "<= 500",
    ("fanout", "for_each", "items_per_s", "sqlite"): ">= 6000",
    ("fanout", "for_each", "items_per_s", "postgres"): ">= 2500",
    ("latency", "idle", "post_to_first_step_p50", "sqlite"): "<= 5",
    ("latency", "idle", "post_to_first_step_p50", "postgres"): "<= 15",
}


def unit_of(metric: str) -> str:
    if metric.endswith("_per_s"):
        return {
            "steps": "steps/s",
            "runs": "runs/s",
            "items": "items/s",
            "requests": "req/s",
            "jobs": "jobs/s",
            "upload": "MiB/s",
            "download": "MiB/s",
        }.get(metric.split("_")[0], "/s")
    if metric.startswith("rss") or metric.endswith("_mib") or metric in ("idle_rss", "binary_size"):
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

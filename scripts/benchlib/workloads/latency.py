"""The ``latency`` workload: single-step runs one at a time on an idle service, p50 and p99
from the database's timestamps and from the client's clock when it sent the POST."""

from __future__ import annotations

import time

import httpx

from scripts.benchlib.figures import Sample
from scripts.benchlib.load import post_run
from scripts.benchlib.suite import Suite, wait_run_final
from scripts.benchlib.workflows import chain_load

LATENCY_WARMUP = 3


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def latency_once(suite: Suite, kind: str, variant: str, instances: int = 1) -> Sample:
    """Single-step runs one at a time on an idle service: p50/p99 from the database's timestamps."""
    load = chain_load(LATENCY_WARMUP + suite.sizes.latency_runs, 1)
    with (
        suite.serving(kind, load, instances) as (database, fleet),
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


def latency(suite: Suite, kind: str) -> None:
    shape = f"{suite.sizes.latency_runs} single-step runs, one at a time"
    suite.measure("latency", kind, lambda: latency_once(suite, kind, "idle"), shape=shape)

"""The ``fleet`` workload (PostgreSQL only): ``chains`` on 1, 2 and 3 instances sharing one
database, then ``latency`` on an idle fleet of 3."""

from __future__ import annotations

from scripts.benchlib.suite import Suite
from scripts.benchlib.workflows import chain_load
from scripts.benchlib.workloads.latency import latency_once
from scripts.benchlib.workloads.throughput import CHAIN_LENGTH, rate


def fleet(suite: Suite, kind: str) -> None:
    if kind != "postgres":
        return
    load = chain_load(suite.sizes.chains, CHAIN_LENGTH)
    for size in (1, 2, 3):
        rate(suite, "fleet", kind, f"{size}_instance{'s' * (size > 1)}", load, instances=size)
    shape = f"{suite.sizes.latency_runs} single-step runs, one at a time, round-robin"
    suite.measure("fleet", kind, lambda: latency_once(suite, kind, "3_instances_idle", 3), shape=shape)

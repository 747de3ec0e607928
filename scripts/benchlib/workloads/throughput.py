"""Throughput workloads: ``steps`` (one long chain; many short chains), ``runs`` (single-step
runs with the POST and GET request rates as by-products; then submitted in batches) and
``fanout`` (one ``for_each``)."""

from __future__ import annotations

from scripts.benchlib.figures import Sample
from scripts.benchlib.load import BATCH_CONNECTIONS, CONNECTIONS, GET_CONNECTIONS
from scripts.benchlib.suite import Suite
from scripts.benchlib.workflows import Load, chain_load, fanout_load

CHAIN_LENGTH = 10


def rate(suite: Suite, workload: str, kind: str, variant: str, load: Load, instances: int = 1) -> None:
    metric = "items_per_s" if workload == "fanout" else "steps_per_s"

    def once() -> Sample:
        return {(variant, metric): suite.burst(kind, load, instances).units_per_s}

    suite.measure(workload, kind, once, shape=load.shape)


def steps(suite: Suite, kind: str) -> None:
    rate(suite, "steps", kind, "chain_long", chain_load(1, suite.sizes.chain_long))
    rate(suite, "steps", kind, "chains", chain_load(suite.sizes.chains, CHAIN_LENGTH))


def runs(suite: Suite, kind: str) -> None:
    load, gets = chain_load(suite.sizes.single_runs, 1), suite.sizes.get_requests

    def once() -> Sample:
        burst = suite.burst(kind, load, gets=gets)
        return {
            ("single_step", "runs_per_s"): burst.units_per_s,
            ("POST /runs", "requests_per_s"): burst.posts_per_s,
            ("GET /runs/{id}", "requests_per_s"): burst.gets_per_s,
        }

    shape = f"{load.shape}, {CONNECTIONS} connections; then {gets} GETs, {GET_CONNECTIONS} connections"
    suite.measure("runs", kind, once, shape=shape)
    batched(suite, kind)


def batched(suite: Suite, kind: str) -> None:
    """The same single-step runs, submitted with POST /runs/batch."""
    load, size = chain_load(suite.sizes.batched_runs, 1), suite.sizes.batch_size

    def once() -> Sample:
        burst = suite.burst(kind, load, batch=size)
        return {
            ("single_step_batched", "runs_per_s"): burst.units_per_s,
            ("POST /runs/batch", "runs_per_s"): burst.posts_per_s,
        }

    shape = f"{load.shape}, {size} per POST /runs/batch, {BATCH_CONNECTIONS} connections"
    suite.measure("runs", kind, once, shape=shape)


def fanout(suite: Suite, kind: str) -> None:
    rate(suite, "fanout", kind, "for_each", fanout_load(suite.sizes.fanout_items))

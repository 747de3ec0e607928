"""The ``workers`` workload: ``chains`` of noop steps and of shell steps (`sh -c true`, a
process per step: work that leaves the event loop) on one service with ``--workers 1`` and
``--workers 2``, on each database. Each repetition measures both counts back to back, so that
a machine busy with something else weighs on both alike."""

from __future__ import annotations

from scripts.benchlib.figures import Sample
from scripts.benchlib.suite import Suite
from scripts.benchlib.workflows import Load, chain_load
from scripts.benchlib.workloads.throughput import CHAIN_LENGTH

WORKER_COUNTS = (1, 2)


def workers(suite: Suite, kind: str) -> None:
    for action in ("noop", "shell"):
        load = chain_load(suite.sizes.chains, CHAIN_LENGTH, action)

        def once(action: str = action, load: Load = load) -> Sample:
            sample: Sample = {}
            for count in WORKER_COUNTS:
                variant = f"{action}_{count}_worker{'s' * (count > 1)}"
                sample[(variant, "steps_per_s")] = suite.burst(kind, load, workers=count).units_per_s
            return sample

        suite.measure("workers", kind, once, shape=load.shape)

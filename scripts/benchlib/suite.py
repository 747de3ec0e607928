"""One benchmark invocation: its settings, the figures so far, repetitions reduced to their
median, and the steps every workload shares (serve a fresh database, submit a load, wait)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from scripts.benchlib.databases import Database, fresh_database
from scripts.benchlib.errors import BenchError, note
from scripts.benchlib.figures import Sample, record
from scripts.benchlib.load import get_runs, register, submit, submit_batched
from scripts.benchlib.processes import Instance, service, wait_instances
from scripts.benchlib.report import emit
from scripts.benchlib.settings import CLI, Sizes
from scripts.benchlib.workflows import Load

STALL_SECONDS = 120.0  # fail when no step or run finishes for this long


@dataclass
class Burst:
    """What one submission of a ``Load`` gave: units/s from the database, and client req/s."""

    units_per_s: float
    posts_per_s: float
    gets_per_s: float


@dataclass
class Suite:
    databases: list[str]
    repeat: int
    sizes: Sizes
    quick: bool
    idle: float
    concurrency: int | None
    templates: dict[str, str] = field(default_factory=dict)  # kind -> migrated template
    figures: list[dict] = field(default_factory=list)

    def add(self, found: dict) -> None:
        self.figures.append(found)
        emit(found, self.repeat)

    def measure(self, workload: str, database: str, once: Callable[[], Sample], **extra: Any) -> None:
        """Run ``once`` ``repeat`` times; one figure (the median) per (variant, metric) it gives."""
        samples: dict[tuple[str, str], list[float]] = {}
        for n in range(self.repeat):
            what = f"{workload} {extra.get('shape', '')}".strip()
            note(f"{what} on {database}: repetition {n + 1} of {self.repeat}")
            for key, value in once().items():
                samples.setdefault(key, []).append(value)
        for (variant, metric), values in samples.items():
            self.add(record(workload, variant, metric, statistics.median(values), database, values, **extra))

    @contextmanager
    def serving(
        self, kind: str, load: Load, instances: int = 1, workers: int = 1
    ) -> Iterator[tuple[Database, list[Instance]]]:
        """A fresh database of ``kind`` served by ``instances`` executors (each with ``workers``
        worker processes, `serve --workers`), ``load``'s workflow registered."""
        extra = ("--workers", str(workers)) if workers > 1 else ()
        with (
            fresh_database(kind, self.templates[kind]) as database,
            service(database, instances, CLI, self.concurrency, extra) as fleet,
        ):
            wait_instances(fleet[0].url, instances * workers)
            register(fleet[0].url, load.flow)
            yield database, fleet

    def burst(
        self, kind: str, load: Load, instances: int = 1, gets: int = 0, batch: int = 0, workers: int = 1
    ) -> Burst:
        """Submit ``load`` at once (round-robin over the instances; with ``batch``, that many runs
        per POST /runs/batch) and wait until every run is final."""
        with self.serving(kind, load, instances, workers) as (database, fleet):
            urls = [i.url for i in fleet]
            if batch:
                ids, post_seconds = submit_batched(urls, load.name, load.runs, batch)
            else:
                ids, post_seconds = submit(urls, load.name, load.runs)
            wait_final(database, fleet, load.runs)
            database.require_success(load.runs)
            units_per_s = load.units / database.span()
            gets_per_s = get_runs(fleet[0].url, ids, gets) if gets else 0.0
        return Burst(units_per_s, load.runs / post_seconds, gets_per_s)


def wait_final(database: Database, fleet: list[Instance], runs: int) -> None:
    """Until ``runs`` runs are final; fail if an instance dies or nothing moves for a while."""
    seen, moved = (-1, -1), time.monotonic()
    while True:
        progress = database.progress()
        if progress[0] >= runs:
            return
        if progress != seen:
            seen, moved = progress, time.monotonic()
        elif time.monotonic() - moved > STALL_SECONDS:
            raise BenchError(f"no progress for {STALL_SECONDS:.0f} s: {progress[0]} of {runs} runs final")
        for instance in fleet:
            instance.check_alive()
        time.sleep(0.1)


def wait_run_final(database: Database, instance: Instance, run_id: str) -> None:
    deadline = time.monotonic() + STALL_SECONDS
    while database.run_status(run_id) not in ("succeeded", "failed", "cancelled"):
        if time.monotonic() > deadline:
            raise BenchError(f"run {run_id} not final after {STALL_SECONDS:.0f} s")
        instance.check_alive()
        time.sleep(0.001)

"""The workloads, one module a group; each measures one workload on one database of a Suite
(``peers`` measures once, for every database)."""

from __future__ import annotations

from collections.abc import Callable

from scripts.benchlib.suite import Suite
from scripts.benchlib.workloads.artifacts import artifacts
from scripts.benchlib.workloads.dashboard import dashboard
from scripts.benchlib.workloads.fleet import fleet
from scripts.benchlib.workloads.footprint import footprint
from scripts.benchlib.workloads.history import history
from scripts.benchlib.workloads.latency import latency
from scripts.benchlib.workloads.purge import purge
from scripts.benchlib.workloads.schedules import schedules
from scripts.benchlib.workloads.throughput import fanout, runs, steps
from scripts.benchlib.workloads.workers import workers

# workload name -> how it is measured on one database (the order of settings.WORKLOADS runs them)
PER_DATABASE: dict[str, Callable[[Suite, str], None]] = {
    "steps": steps,
    "runs": runs,
    "fanout": fanout,
    "latency": latency,
    "fleet": fleet,
    "workers": workers,
    "footprint": footprint,
    "purge": purge,
    "schedules": schedules,
    "dashboard": dashboard,
    "history": history,
    "artifacts": artifacts,
}

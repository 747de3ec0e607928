"""The ``footprint`` workload: binary size; launch to ready, idle RSS and CPU, and SIGTERM to
exit for the CLI and the binary; RSS as finished runs accumulate."""

from __future__ import annotations

import functools
import time

from scripts.benchlib.databases import fresh_database
from scripts.benchlib.errors import BenchError, note
from scripts.benchlib.figures import Sample, record
from scripts.benchlib.load import submit
from scripts.benchlib.processes import cpu_seconds, rss_mib, service
from scripts.benchlib.settings import BINARY, CLI
from scripts.benchlib.suite import Suite, wait_final
from scripts.benchlib.workflows import chain_load


def idle_footprint(suite: Suite, kind: str, command: list[str], variant: str) -> Sample:
    with (
        fresh_database(kind, suite.templates[kind]) as database,
        service(database, 1, command, suite.concurrency) as [instance],
    ):
        pid = instance.process.pid
        time.sleep(0.5)  # let start-up work settle before calling the process idle
        before = cpu_seconds(pid)
        time.sleep(suite.idle)
        cpu = (cpu_seconds(pid) - before) / suite.idle * 100
        rss = rss_mib(pid)
        stop = instance.stop()
        if instance.exit_code != 0:
            raise BenchError(f"{variant} exited {instance.exit_code} on SIGTERM: {instance.log_tail()}")
    return {
        (variant, "launch_to_ready"): instance.ready_seconds * 1000,
        (variant, "idle_rss"): rss,
        (variant, "idle_cpu"): cpu,
        (variant, "sigterm_to_exit"): stop * 1000,
    }


def rss_after_runs(suite: Suite, kind: str) -> Sample:
    half = chain_load(suite.sizes.rss_runs // 2, 1)
    with suite.serving(kind, half) as (database, [instance]):
        time.sleep(0.5)
        found = {("cli", "rss_before_runs"): rss_mib(instance.process.pid)}
        for done in (half.runs, 2 * half.runs):
            submit([instance.url], half.name, half.runs)
            wait_final(database, [instance], done)
            found[("cli", f"rss_after_{done}_runs")] = rss_mib(instance.process.pid)
        database.require_success(2 * half.runs)
    return found


def footprint(suite: Suite, kind: str) -> None:
    first = kind == suite.databases[0]
    variants = [(CLI, "cli")]
    if BINARY.is_file():
        variants.append(([str(BINARY)], "binary"))
        size = BINARY.stat().st_size / 2**20
        if first:
            suite.add(record("footprint", "binary", "binary_size", size, None, [size]))
    elif first:
        note(f"no {BINARY}; run scripts/build-binary to measure the binary")
    for command, variant in variants:
        once = functools.partial(idle_footprint, suite, kind, command, variant)
        suite.measure("footprint", kind, once, shape=f"{variant}: launch, {suite.idle:g} s idle, SIGTERM")
    shape = f"{2 * (suite.sizes.rss_runs // 2)} single-step runs, half at a time"
    suite.measure("footprint", kind, lambda: rss_after_runs(suite, kind), shape=shape)

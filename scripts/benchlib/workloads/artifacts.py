"""The ``artifacts`` workload: one large artifact (``--quick``: a small one) through the
service, kept in the database (``chunks_in_db``) and in ``--artifacts-dir`` (``files_in_dir``):

* upload MiB/s = size / (the step's ``finished_at`` - the moment its command ended): what
  keeping the file adds to the attempt (reading, hashing, writing it, and the commit that
  keeps it). The command prints the moment it ended (``date +%s.%N``, this host's clock,
  as the database's timestamps on both backends here);
* download MiB/s = size / the time a client takes to read ``GET /runs/{id}/artifacts/...``
  whole (the client's clock; the bytes counted, not hashed);
* the service's RSS before, and its peak during each (sampled every 20 ms, process tree).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from scripts.benchlib.databases import Database, fresh_database
from scripts.benchlib.errors import BenchError
from scripts.benchlib.figures import Sample
from scripts.benchlib.load import post_run, register
from scripts.benchlib.processes import Instance, rss_mib, service
from scripts.benchlib.settings import CLI
from scripts.benchlib.suite import STALL_SECONDS, Suite

MIB = 1 << 20
STORAGES = ("chunks_in_db", "files_in_dir")
FLOW = """
name: artifact
steps:
  - id: make
    action: shell
    timeout: 10m
    with:
      command: |
        head -c {size}M /dev/urandom > "$EXECUTOR_ARTIFACTS_DIR/blob.bin"
        date +%s.%N
"""


@contextmanager
def peak_rss(pid: int) -> Iterator[list[float]]:
    """The highest RSS (MiB) of ``pid``'s tree while the block runs, in ``[peak]``."""
    peak = [rss_mib(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            try:
                peak[0] = max(peak[0], rss_mib(pid))
            except OSError:  # a child (the step's shell) ended while it was read
                pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join(5)


def _wait_final(database: Database, instance: Instance, run_id: str) -> None:
    # Polled gently: the figures come from the database's timestamps, not from noticing.
    deadline = time.monotonic() + STALL_SECONDS
    while database.run_status(run_id) not in ("succeeded", "failed", "cancelled"):
        if time.monotonic() > deadline:
            raise BenchError(f"run {run_id} not final after {STALL_SECONDS:.0f} s")
        instance.check_alive()
        time.sleep(0.02)


def _upload_seconds(database: Database, run_id: str) -> float:
    output, finished = database.rows(
        f"SELECT output, {database.epoch('finished_at')} FROM steps WHERE run_id = ?", run_id
    )[0]
    result = json.loads(output) if isinstance(output, str) else output
    return float(finished) - float(result["stdout"].strip())


def artifacts_once(suite: Suite, kind: str, storage: str) -> Sample:
    size = suite.sizes.artifact_mib
    with (
        tempfile.TemporaryDirectory(prefix="executor-bench-artifacts-") as kept,
        fresh_database(kind, suite.templates[kind]) as database,
    ):
        extra = ["--artifacts-dir", kept] if storage == "files_in_dir" else []
        with (
            service(database, 1, CLI, suite.concurrency, extra) as [instance],
            httpx.Client(trust_env=False, timeout=120) as client,
        ):
            register(instance.url, FLOW.format(size=size))
            pid = instance.process.pid
            time.sleep(0.5)  # let start-up work settle
            before = rss_mib(pid)
            with peak_rss(pid) as during_upload:
                run_id = post_run(client, instance.url, "artifact")
                _wait_final(database, instance, run_id)
            database.require_success(1)
            upload = _upload_seconds(database, run_id)
            read, began = 0, time.perf_counter()
            with (
                peak_rss(pid) as during_download,
                client.stream("GET", f"{instance.url}/runs/{run_id}/artifacts/make/blob.bin") as answer,
            ):
                if answer.status_code != 200:
                    raise BenchError(f"the download answered {answer.status_code}")
                for piece in answer.iter_raw(MIB):
                    read += len(piece)
            download = time.perf_counter() - began
        if read != size * MIB:
            raise BenchError(f"downloaded {read} bytes of {size * MIB}")
        if storage == "files_in_dir" and not any(Path(kept).rglob("*")):
            raise BenchError(f"nothing kept in {kept}")
    return {
        (storage, "upload_mib_per_s"): size / upload,
        (storage, "download_mib_per_s"): size / download,
        (storage, "rss_before"): before,
        (storage, "rss_peak_upload"): during_upload[0],
        (storage, "rss_peak_download"): during_download[0],
    }


def artifacts(suite: Suite, kind: str) -> None:
    for storage in STORAGES:
        shape = f"one {suite.sizes.artifact_mib} MiB artifact: a shell step leaves it, GET reads it"
        suite.measure("artifacts", kind, lambda s=storage: artifacts_once(suite, kind, s), shape=shape)

"""A 200 MiB artifact through the real service, on both backends: a shell step writes it,
the service uploads it (database chunks, or ``--artifacts-dir``), a client downloads it over
HTTP and checks it against the sha256 the step itself computed, while the service's
resident memory (its ``/proc/PID/status`` VmRSS, sampled throughout) stays flat: it grows
by far less than the artifact at any moment of the upload or the download."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.process import CLI, Server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

MIB = 1 << 20
SIZE_MIB = 200
# Far below the artifact: a service that held it whole (or a quarter of it) would pass this.
GROWTH_LIMIT_MIB = 60
FLOW = f"""
name: big
steps:
  - id: make
    action: shell
    timeout: 5m
    with:
      command: |
        head -c {SIZE_MIB}M /dev/urandom > "$EXECUTOR_ARTIFACTS_DIR/big.bin"
        sha256sum "$EXECUTOR_ARTIFACTS_DIR/big.bin" | cut -d' ' -f1 > "$EXECUTOR_ARTIFACTS_DIR/big.sha256"
"""
WARM_UP = """
name: small
steps:
  - {id: make, action: shell, with: {command: 'head -c 3M /dev/zero > "$EXECUTOR_ARTIFACTS_DIR/warm.bin"'}}
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@contextmanager
def peak_rss(pid: int, every: float = 0.02) -> Iterator[list[float]]:
    """The highest VmRSS of ``pid`` while the block runs (``[peak]`` once it is over)."""
    peak = [rss_mib(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            peak[0] = max(peak[0], rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join(5)
        peak[0] = max(peak[0], rss_mib(pid))


def finished_run(client: httpx.Client, workflow: str, timeout: float) -> str:
    run_id: str = client.post("/runs", json={"workflow": workflow}).json()["id"]

    def final() -> str | None:
        status: str = client.get(f"/runs/{run_id}").json()["status"]
        return status if status in ("succeeded", "failed", "cancelled") else None

    status = wait_until(final, timeout, interval=0.2, what=f"run {run_id} of {workflow}")
    assert status == "succeeded", client.get(f"/runs/{run_id}").json()
    return run_id


def download(client: httpx.Client, path: str) -> tuple[int, str]:
    """Stream ``path``; its size and sha256."""
    digest, size = hashlib.sha256(), 0
    with client.stream("GET", path) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-length"] == str(SIZE_MIB * MIB)
        for piece in answer.iter_bytes(MIB):
            digest.update(piece)
            size += len(piece)
    return size, digest.hexdigest()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("storage", ["database", "directory"])
def test_a_200_mib_artifact_goes_through_with_flat_memory(
    database_url: str, tmp_path: Path, storage: str
) -> None:
    args = ["--database", database_url, "--poll-interval", "100ms"]
    if storage == "directory":
        (tmp_path / "kept").mkdir()
        args += ["--artifacts-dir", str(tmp_path / "kept")]
    server = Server(CLI, tmp_path, args).start()
    try:
        server.wait_running()
        assert server.process is not None
        pid = server.process.pid
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for flow in (WARM_UP, FLOW):
                answer = client.post("/workflows", content=flow, headers={"content-type": "application/yaml"})
                assert answer.status_code == 201, answer.text
            # Warm: every code path of an upload and a download has run once before the baseline.
            warm = finished_run(client, "small", 60)
            download_size = len(client.get(f"/runs/{warm}/artifacts/make/warm.bin").content)
            assert download_size == 3 * MIB
            baseline = rss_mib(pid)

            began = time.monotonic()
            with peak_rss(pid) as during_upload:
                run_id = finished_run(client, "big", 240)
            upload_seconds = time.monotonic() - began
            listed = {a["name"]: a for a in client.get(f"/runs/{run_id}/artifacts").json()["artifacts"]}
            assert listed["big.bin"]["size"] == SIZE_MIB * MIB
            expected = client.get(f"/runs/{run_id}/artifacts/make/big.sha256").text.strip()
            assert listed["big.bin"]["sha256"] == expected

            began = time.monotonic()
            with peak_rss(pid) as during_download:
                size, sha256 = download(client, f"/runs/{run_id}/artifacts/make/big.bin")
            download_seconds = time.monotonic() - began
            assert (size, sha256) == (SIZE_MIB * MIB, expected), "the bytes the step wrote, whole"

        print(
            f"\n{database_url.split(':')[0]}, {storage} storage: baseline {baseline:.0f} MiB; peak during the run "
            f"{during_upload[0]:.0f} MiB ({upload_seconds:.1f} s), during the download "
            f"{during_download[0]:.0f} MiB ({SIZE_MIB / download_seconds:.0f} MiB/s)"
        )
        assert during_upload[0] - baseline < GROWTH_LIMIT_MIB, (baseline, during_upload[0])
        assert during_download[0] - baseline < GROWTH_LIMIT_MIB, (baseline, during_download[0])
    finally:
        server.stop()

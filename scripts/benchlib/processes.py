"""Executor processes: launch one or a fleet, wait for /health, stop with SIGTERM, and read
their memory and CPU (process tree included) from /proc."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from scripts.benchlib.databases import Database
from scripts.benchlib.errors import BenchError, note
from scripts.benchlib.settings import service_env

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if this script dies (even by SIGKILL)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Instance:
    """One running executor: its process, URL, log, and seconds from launch to /health 200."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    ready_seconds: float = 0.0
    exit_code: int | None = field(default=None)

    @classmethod
    def launch(
        cls,
        command: list[str],
        database: str,
        workdir: Path,
        concurrency: int | None,
        extra: Sequence[str] = (),
    ) -> Instance:
        workdir.mkdir()
        port = free_port()
        options = ["--database", database, "--port", str(port), "--skip-migrations", "--log-level", "warning"]
        options += ["--concurrency", str(concurrency)] if concurrency else []
        options += extra
        log = workdir / "executor.log"
        with log.open("wb") as out:
            started = time.perf_counter()
            process = subprocess.Popen(
                [*command, *options],
                cwd=workdir,
                env=service_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        instance = cls(process, f"http://127.0.0.1:{port}", log)
        try:
            instance._wait_ready(started)
        except BaseException:
            instance.stop()
            raise
        return instance

    def _wait_ready(self, started: float) -> None:
        with httpx.Client(timeout=1, trust_env=False) as client:
            while True:
                try:
                    if client.get(self.url + "/health").status_code == 200:
                        self.ready_seconds = time.perf_counter() - started
                        return
                except httpx.TransportError:
                    pass
                self.check_alive()
                if time.perf_counter() - started > 60:
                    raise BenchError(f"executor at {self.url} not ready after 60 s: {self.log_tail()}")
                time.sleep(0.002)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"executor exited {self.process.returncode}: {self.log_tail()}")

    def log_tail(self) -> str:
        return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> float:
        """SIGTERM (if still running) and wait; seconds until it exited. Kills after 60 s."""
        began = time.perf_counter()
        self.terminate()
        try:
            self.exit_code = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.exit_code = self.process.wait()
            note(f"executor at {self.url} ignored SIGTERM for 60 s and was killed")
        return time.perf_counter() - began


@contextmanager
def service(
    database: Database,
    instances: int,
    command: list[str],
    concurrency: int | None,
    extra: Sequence[str] = (),
) -> Iterator[list[Instance]]:
    """``instances`` executors on ``database`` (``extra``: more options), always stopped afterwards."""
    fleet: list[Instance] = []
    with tempfile.TemporaryDirectory(prefix="executor-bench-") as tmp:
        try:
            for index in range(instances):
                fleet.append(
                    Instance.launch(command, database.url, Path(tmp) / f"i{index}", concurrency, extra)
                )
            yield fleet
        finally:
            for instance in fleet:
                instance.terminate()
            for instance in fleet:
                instance.stop()


def wait_instances(url: str, count: int) -> None:
    """Until ``count`` instances are running on the database behind ``url`` (a service with
    ``--workers`` answers /health as soon as its first worker runs)."""
    deadline = time.perf_counter() + 60
    with httpx.Client(timeout=5, trust_env=False) as client:
        while True:
            found = client.get(url + "/instances").json()["instances"]
            if sum(i["state"] == "running" for i in found) >= count:
                return
            if time.perf_counter() > deadline:
                raise BenchError(f"{count} instances not running after 60 s: {found}")
            time.sleep(0.01)


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the one-file binary runs Executor in a child process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(member for child in children for member in tree(int(child)))]


def rss_mib(pid: int) -> float:
    total = 0
    for member in tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total / 2**20


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS

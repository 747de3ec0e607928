"""The executor instances of one backend: each slot runs one incarnation at a time, started
with its name in CHAOS_INSTANCE, killed with SIGKILL to its process group (the binary's
bootloader and the process it runs die together; the shell commands, in sessions of their
own, do not), started again, and finally stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from scripts.chaoslib.errors import ChaosError, note
from scripts.chaoslib.settings import (
    EFFECTS_VARIABLE,
    INSTANCE_VARIABLE,
    READY_TIMEOUT,
    SESSION_VARIABLE,
    service_env,
)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if this script dies (even by SIGKILL)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Incarnation:
    """One start of one slot: its process, URL and log."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    ready: bool = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])


class Fleet:
    """``size`` slots serving ``database``; their logs and the side effects under ``workdir``."""

    def __init__(
        self, backend: str, command: list[str], database: str, workdir: Path, size: int, session: str
    ) -> None:
        self.backend = backend
        self.command = command
        self.database = database
        self.workdir = workdir
        self.session = session
        self.effects = workdir / "side-effects.txt"
        self.slots: list[Incarnation | None] = [None] * size
        self.starts = [0] * size
        self.retired: list[Incarnation] = []  # killed or exited: their exit codes are known

    async def start(self, slot: int) -> Incarnation:
        """A new incarnation in ``slot``, once it answers /health."""
        incarnation = self._launch(slot)
        self.slots[slot] = incarnation
        await self._wait_ready(incarnation)
        return incarnation

    def _launch(self, slot: int) -> Incarnation:
        """Called on the event loop's thread, never a worker's: PR_SET_PDEATHSIG follows the
        thread that forked, and a worker thread may end long before this script."""
        name = f"{self.backend}-i{slot}-r{self.starts[slot]}"
        self.starts[slot] += 1
        port = _free_port()
        log = self.workdir / f"{name}.log"
        env = service_env() | {
            SESSION_VARIABLE: self.session,
            INSTANCE_VARIABLE: name,
            EFFECTS_VARIABLE: str(self.effects),
        }
        options = [
            "--database",
            self.database,
            "--port",
            str(port),
            "--skip-migrations",
            "--log-format",
            "json",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*self.command, *options],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own, killed as one
                preexec_fn=_die_with_parent,
            )
        return Incarnation(name, process, f"http://127.0.0.1:{port}", log)

    async def _wait_ready(self, incarnation: Incarnation) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=1, trust_env=False) as client:
            while True:
                try:
                    if (await client.get(incarnation.url + "/health")).status_code == 200:
                        incarnation.ready = True
                        return
                except httpx.TransportError:
                    pass
                if not incarnation.alive():
                    raise ChaosError(
                        f"{incarnation.name} exited {incarnation.process.returncode} while starting:"
                        f" {incarnation.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise ChaosError(
                        f"{incarnation.name} not ready after {READY_TIMEOUT:.0f} s: {incarnation.log_tail()}"
                    )
                await asyncio.sleep(0.05)

    def name(self, slot: int) -> str | None:
        incarnation = self.slots[slot]
        return None if incarnation is None else incarnation.name

    def live_urls(self) -> list[str]:
        return [i.url for i in self.slots if i is not None and i.ready and i.alive()]

    async def kill(self, slot: int) -> tuple[float, str]:
        """SIGKILL the slot's process group; (when, which incarnation). Not started again."""
        incarnation = self.slots[slot]
        assert incarnation is not None
        incarnation.ready = False
        at = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(incarnation.process.pid, signal.SIGKILL)
        await asyncio.to_thread(incarnation.process.wait, 30)
        self.retired.append(incarnation)
        self.slots[slot] = None
        return at, incarnation.name

    def exited(self) -> list[tuple[int, str]]:
        """(slot, incarnation) of those that exited without being killed (retired here)."""
        found = []
        for slot, incarnation in enumerate(self.slots):
            if incarnation is not None and incarnation.ready and not incarnation.alive():
                note(
                    f"{incarnation.name} exited {incarnation.process.returncode} on its own:"
                    f" {incarnation.log_tail()}"
                )
                self.retired.append(incarnation)
                self.slots[slot] = None
                found.append((slot, incarnation.name))
        return found

    async def stop(self, timeout: float = 60) -> dict[str, int]:
        """SIGTERM every live incarnation and wait; their exit codes (killed after ``timeout``)."""
        running = [i for i in self.slots if i is not None]
        for incarnation in running:
            if incarnation.alive():
                incarnation.process.send_signal(signal.SIGTERM)
        codes: dict[str, int] = {}
        for incarnation in running:
            try:
                codes[incarnation.name] = await asyncio.to_thread(incarnation.process.wait, timeout)
            except subprocess.TimeoutExpired:
                note(f"{incarnation.name} ignored SIGTERM for {timeout:.0f} s and was killed")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(incarnation.process.pid, signal.SIGKILL)
                codes[incarnation.name] = await asyncio.to_thread(incarnation.process.wait)
        self.slots = [None] * len(self.slots)
        self.retired.extend(running)
        return codes

    def abandon(self) -> None:
        """Teardown after an error: kill whatever still runs."""
        for incarnation in self.slots:
            if incarnation is not None and incarnation.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(incarnation.process.pid, signal.SIGKILL)
                incarnation.process.wait(10)

"""The chaos itself: a schedule of events at random moments of the window, and carrying
them out one after the other, each written to ``events.txt`` in the working directory.
``kill``: SIGKILL a random live instance (one running commands, when one does within
BUSY_PATIENCE s: a kill is meant to land mid-step), look for its commands
``--orphan-grace`` s later, start the slot again at once. ``terminate``
(PostgreSQL): pg_terminate_backend every connection to the database. ``restart``
(PostgreSQL, when asked): run the command that restarts the server, wait for it to answer."""

from __future__ import annotations

import asyncio
import random
import shlex
import subprocess
import time
from dataclasses import dataclass, field

from scripts.chaoslib.databases import Database, wait_for_postgres
from scripts.chaoslib.errors import ChaosError, note
from scripts.chaoslib.figures import Kill
from scripts.chaoslib.fleet import Fleet
from scripts.chaoslib.observe import Observer
from scripts.chaoslib.orphans import commands
from scripts.chaoslib.settings import Options

BUSY_PATIENCE = 5.0  # seconds a kill may wait for an instance running commands


def schedule(options: Options, backend: str, rng: random.Random) -> list[tuple[float, str]]:
    """(seconds into the window, event), in order; within 10%..90% of the window, so that
    the load is under way before the first and every event is over before the drain."""
    events = ["kill"] * options.kills
    if backend == "postgres":
        events += ["terminate"] * options.terminations
        events += ["restart"] if options.postgres_restart else []
    window = options.minutes * 60
    return sorted((rng.uniform(0.1 * window, 0.9 * window), event) for event in events)


@dataclass
class Chaos:
    options: Options
    database: Database
    fleet: Fleet
    observer: Observer
    rng: random.Random
    kills: list[Kill] = field(default_factory=list)
    terminations: int = 0
    postgres_restarts: int = 0
    _scans: list[asyncio.Task[None]] = field(default_factory=list)

    async def run(self, began: float, events: list[tuple[float, str]]) -> None:
        for offset, event in events:
            await asyncio.sleep(max(0.0, began + offset - time.monotonic()))
            await self.observer.snapshot()
            if event == "kill":
                await self.kill()
            elif event == "terminate":
                at = time.time()
                count = await asyncio.to_thread(self.database.terminate_backends)
                self.terminations += 1
                self.record(at, f"terminate {count} connection(s)")
            else:
                await self.restart_postgres()
        await asyncio.gather(*self._scans)

    async def kill(self) -> None:
        """Kill a live instance, one running commands when one does within BUSY_PATIENCE s."""
        deadline = time.monotonic() + BUSY_PATIENCE
        while True:
            live = [
                slot for slot, i in enumerate(self.fleet.slots) if i is not None and i.ready and i.alive()
            ]
            running = await asyncio.to_thread(commands, self.fleet.session)
            busy = [slot for slot in live if running.get(self.fleet.name(slot) or "")]
            if busy or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        if not live:
            note("no live instance to kill: this kill is skipped")
            return
        slot = self.rng.choice(busy or live)
        at, name = await self.fleet.kill(slot)
        kill = Kill(at, name)
        self.kills.append(kill)
        self._scans.append(asyncio.create_task(self._scan(kill)))
        count = len(running.get(name, ()))
        self.record(
            at, f"kill {name} running {count} command(s) (kill {len(self.kills)} of {self.options.kills})"
        )
        await self.observer.snapshot()  # what the dead instance had recorded, before anyone else moves
        await self.fleet.start(slot)

    async def _scan(self, kill: Kill) -> None:
        await asyncio.sleep(max(0.0, kill.at + self.options.orphan_grace - time.time()))
        kill.alive_after = (await asyncio.to_thread(commands, self.fleet.session)).get(
            kill.incarnation, set()
        )
        if kill.alive_after:
            grace = self.options.orphan_grace
            self.record(
                time.time(),
                f"{grace:g} s after its kill, {kill.incarnation} has commands alive: {sorted(kill.alive_after)}",
            )

    async def restart_postgres(self) -> None:
        assert self.options.postgres_restart is not None
        command = self.options.postgres_restart
        self.record(time.time(), f"restart PostgreSQL: {shlex.join(command)}")
        result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise ChaosError(f"{shlex.join(command)} exited {result.returncode}: {result.stderr.strip()}")
        await asyncio.to_thread(wait_for_postgres, 120)
        self.postgres_restarts += 1
        self.record(time.time(), "PostgreSQL answers again")

    def record(self, at: float, what: str) -> None:
        """One line in ``events.txt`` (same clock as the side-effect lines) and a note."""
        with (self.fleet.workdir / "events.txt").open("a") as events:
            events.write(f"{at:.6f} {what}\n")
        note(what)

"""What is watched during the window: the succeeded steps as first seen (read at every chaos
event and every SNAPSHOT_INTERVAL s), and instances that exit on their own (started again)."""

from __future__ import annotations

import asyncio
import time

import psycopg

from scripts.chaoslib.databases import Database
from scripts.chaoslib.errors import note
from scripts.chaoslib.figures import Seen, StepKey
from scripts.chaoslib.fleet import Fleet
from scripts.chaoslib.settings import SNAPSHOT_INTERVAL


class Observer:
    def __init__(self, database: Database, fleet: Fleet) -> None:
        self.database = database
        self.fleet = fleet
        self.seen: dict[StepKey, Seen] = {}
        self.unexpected_exits: list[str] = []
        self._failed_reads = 0

    async def snapshot(self) -> None:
        """Read the succeeded steps; remember those not seen before, with when it was read.

        The time is taken after the read returned: a row it shows was committed before then.
        A read the chaos cuts short (connections terminated, server restarting) is skipped.
        """
        try:
            rows = await asyncio.to_thread(self.database.succeeded_steps)
        except (psycopg.Error, OSError) as exc:
            self._failed_reads += 1
            if self._failed_reads in (1, 10, 100):
                note(f"reading the steps failed ({self._failed_reads} so far): {str(exc).strip()[:200]}")
            return
        at = time.time()
        for key, record in rows.items():
            self.seen.setdefault(key, Seen(at, record))

    async def watch(self, stop: asyncio.Event) -> None:
        """Until ``stop``: a snapshot now and then; an instance that died on its own is noted
        and started again."""
        while not stop.is_set():
            await self.snapshot()
            for slot, name in self.fleet.exited():
                self.unexpected_exits.append(name)
                await self.fleet.start(slot)
            try:
                await asyncio.wait_for(stop.wait(), SNAPSHOT_INTERVAL)
            except TimeoutError:
                pass

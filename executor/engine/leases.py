"""Lease upkeep: the leases this instance holds are renewed while their attempts run; a
lease found lost stops its attempt; expired leases (of any instance) and overdue runs are
reaped. One loop, `Leases.maintain`, does all of it at a third of the lease.

Renewing at a fraction of the lease leaves two more chances before a healthy attempt
could lose its row; reaping here rather than at claim time keeps claims one statement.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable

from loguru import logger

from executor.errors import ExecutorError
from executor.store import Store
from executor.store.records import Claimed


class Leases:
    def __init__(
        self,
        store: Store,
        *,
        owner: str,
        lease: float,
        lost: Callable[[int], None],
        expire: Callable[[str, int, str], Awaitable[None]],
        time_out: Callable[[str], Awaitable[None]],
    ) -> None:
        """``lost(row id)`` stops an attempt whose lease is gone; ``expire(run id, row id,
        token)`` records an expired lease; ``time_out(run id)`` ends an overdue run."""
        self.store = store
        self.owner = owner
        self.lease = lease
        self._lost = lost
        self._expire = expire
        self._time_out = time_out
        self._held: dict[int, Claimed] = {}
        # False while the database does not answer: /health/ready says so.
        self.database_ok = True

    def hold(self, item: Claimed) -> None:
        self._held[item.row.id] = item

    def release(self, row_id: int) -> None:
        """No longer ours to renew (its outcome is recorded, or it was handed back)."""
        self._held.pop(row_id, None)

    async def maintain(self) -> None:
        """Renew this instance's leases; reap expired leases and overdue runs. Forever."""
        interval = max(0.05, min(self.lease / 3, 5.0))
        while True:
            try:
                await self.store.ping()
                if not self.database_ok:
                    logger.info("the database answers again")
                self.database_ok = True
                await self.renew()
                await self.reap()
            except ExecutorError as exc:
                if self.database_ok:
                    logger.warning("the database does not answer: {}", exc.message)
                self.database_ok = False
            # While the database is away, look again soon: readiness comes back with it.
            await asyncio.sleep(interval if self.database_ok else min(interval, 0.5))

    async def renew(self) -> None:
        held = [(row_id, item.token) for row_id, item in list(self._held.items())]
        if not held:
            return
        renewed = await self.store.renew_leases(self.owner, held, self.lease)
        for row_id, _ in held:
            if row_id not in renewed and row_id in self._held:
                item = self._held.pop(row_id)
                logger.bind(run_id=item.row.run_id, step=item.row.step_id, row=row_id).warning(
                    "lost the lease of a step; stopping its attempt"
                )
                self._lost(row_id)

    async def reap(self) -> None:
        for run_id, row_id, token in await self.store.expired_leases(100):
            logger.bind(run_id=run_id, row=row_id).warning("lease of a step expired: executor lost")
            await self._expire(run_id, row_id, token)
        for run_id in await self.store.overdue_runs(100):
            await self._time_out(run_id)

    async def recover_dead_local(self) -> int:
        """Expire at once the leases of instances on this host whose process is gone (a
        restart after ``kill -9``), instead of waiting out their lease; return how many.

        SQLite only: its processes share one machine and so one pid namespace. A fleet's
        containers may share a host name without sharing pids, and would take each other
        for dead; there the leases run out as usual.
        """
        if self.store.dialect != "sqlite":
            return 0
        alive = [int(name) for name in os.listdir("/proc") if name.isdigit()]
        recovered = 0
        for instance in await self.store.dead_local_instances(socket.gethostname(), alive):
            recovered += await self.store.release_instance(instance.id)
        return recovered

"""Lease upkeep: the leases this instance holds are renewed while their attempts run; a
lease found lost stops its attempt; instances whose heartbeat went silent are released;
expired leases (of any instance), overdue runs and keys kept for attempts whose end was
never reported are reaped. `Leases.maintain` does it in two loops (renewing never waits
for reaping) at a third of the lease or a fifth of the heartbeat timeout, whichever is
shorter.

Renewing at a fraction of the lease leaves two more chances before a healthy attempt
could lose its row; reaping here rather than at claim time keeps claims one statement.

A dead instance is noticed by its heartbeat (`Runtime` beats at a fifth of the timeout),
not by its leases running out: a kill -9 costs its steps about the heartbeat timeout, not
the lease. Each instance records its own timeout, and peers judge it by that one (a fleet
whose settings differ, or a rolling upgrade, takes nobody for dead too early). Only an
instance that has itself had the database for a whole timeout judges its peers: after an
outage every instance's heartbeat is old, and none is dead.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable

from loguru import logger

from executor.cancel import pause
from executor.engine import history
from executor.errors import ExecutorError
from executor.store import Store
from executor.store.records import Claimed

# Instances of versions that did not record their heartbeat timeout beat every 10 s: judge
# them after three missed beats.
UNKNOWN_TIMEOUT = 30.0


class Leases:
    def __init__(
        self,
        store: Store,
        *,
        owner: str,
        lease: float,
        heartbeat_timeout: float,
        lost: Callable[[int], None],
        expire: Callable[[str, int, str], Awaitable[None]],
        time_out: Callable[[str], Awaitable[None]],
        release: Callable[[str, int | None], Awaitable[None]],
    ) -> None:
        """``lost(row id)`` stops an attempt whose lease is gone; ``expire(run id, row id,
        token)`` records an expired lease; ``time_out(run id)`` ends an overdue run;
        ``release(run id, step row or None)`` gives up a place kept for a stopped attempt
        whose end its instance never reported (`Store.kept_places`)."""
        self.store = store
        self.owner = owner
        self.lease = lease
        self.heartbeat_timeout = heartbeat_timeout
        self._lost = lost
        self._expire = expire
        self._time_out = time_out
        self._release = release
        self._held: dict[int, Claimed] = {}
        # False while the database does not answer: /health/ready says so.
        self.database_ok = True
        # Since when (monotonic) the database has answered without a break.
        self._answering_since = time.monotonic()

    def hold(self, item: Claimed) -> None:
        self._held[item.row.id] = item

    def release(self, row_id: int, token: str | None = None) -> None:
        """No longer ours to renew (its outcome is recorded, or it was handed back); with
        ``token``, only that attempt's lease (a later attempt of the row may hold it now)."""
        held = self._held.get(row_id)
        if held is not None and (token is None or held.token == token):
            del self._held[row_id]

    async def maintain(self) -> None:
        """Renew this instance's leases; reap expired leases and overdue runs. Forever.

        Two loops: recording what reaping finds may wait (a change that needs a slow
        render waits for it outside the transaction), and renewals must never wait for it.
        """
        interval = max(0.05, min(self.lease / 3, self.heartbeat_timeout / 5, 5.0))
        async with asyncio.TaskGroup() as group:
            group.create_task(self._keep(interval))
            group.create_task(self._reap(interval))

    async def _keep(self, interval: float) -> None:
        answered = time.monotonic()
        while True:
            try:
                await self.store.ping()
                now = time.monotonic()
                if not self.database_ok:
                    logger.info("the database answers again")
                if not self.database_ok or now - answered > 2 * interval + 1:
                    # Back from an outage, or from a ping that hung: peers could not beat either.
                    self._answering_since = now
                answered = now
                self.database_ok = True
                await self.renew()
            except ExecutorError as exc:
                if self.database_ok:
                    logger.warning("the database does not answer: {}", exc.message)
                self.database_ok = False
            # While the database is away, look again soon: readiness comes back with it.
            await pause(interval if self.database_ok else min(interval, 0.5))

    async def _reap(self, interval: float) -> None:
        while True:
            if self.database_ok:  # else `_keep` says so, once
                try:
                    await self.release_silent()
                    await self.reap()
                except ExecutorError as exc:
                    logger.debug("reaping failed, trying again: {}", exc.message)
            await pause(interval)

    async def renew(self) -> None:
        held = [(row_id, item.token) for row_id, item in list(self._held.items())]
        if not held:
            return
        renewed = await self.store.renew_leases(self.owner, held, self.lease)
        gone = [
            self._held.pop(row_id) for row_id, _ in held if row_id not in renewed and row_id in self._held
        ]
        for item in gone:
            self._lost(item.row.id)
        for item in gone:
            await self._tell_lost(item)

    async def _tell_lost(self, item: Claimed) -> None:
        """Log an attempt whose lease is gone: a step cancelled (or reopened) by another
        instance is the normal way, a lease that ran out (the row was reaped) is not."""
        row = item.row
        log = logger.bind(run_id=row.run_id, step=row.step_id, row=row.id)
        found = await self.store.get_run(row.run_id)
        now = next((r for r in found[1] if r.id == row.id), None) if found is not None else None
        if history.was_lost(now, row.attempt):
            log.warning("lost the lease of a step; stopping its attempt")
        else:
            log.info("the step was cancelled or reopened; stopping its attempt")

    async def release_silent(self) -> None:
        """Release the instances whose heartbeat is older than the timeout: their leases
        expire now and are reaped below. Not before this instance has had the database for a
        whole timeout itself (after an outage, its peers' heartbeats are old too)."""
        if time.monotonic() - self._answering_since < self.heartbeat_timeout:
            return
        released = await self.store.release_silent_instances(me=self.owner, unknown_timeout=UNKNOWN_TIMEOUT)
        for instance, leases in released.items():
            logger.bind(instance=instance).warning(
                "instance missed its heartbeats: taken for dead; {} of its step(s) go back to the queue",
                leases,
            )

    async def reap(self) -> None:
        """Record every expired lease and overdue run found now (together: the changes share
        group commits), and return once they are recorded."""
        expired = await self.store.expired_leases(100)
        for run_id, row_id, _ in expired:
            logger.bind(run_id=run_id, row=row_id).warning("lease of a step expired: executor lost")
        await asyncio.gather(*(self._expire(run_id, row_id, token) for run_id, row_id, token in expired))
        await asyncio.gather(*(self._time_out(run_id) for run_id in await self.store.overdue_runs(100)))
        # A lease after its step (or run) ended, a stopped attempt's instance has had time to
        # report its end: one that did not is gone (and its supervisor killed the command).
        kept = await self.store.kept_places(self.lease, 100)
        for run_id, step in kept:
            logger.bind(run_id=run_id, row=step).warning(
                "a key was kept for a stopped attempt whose end was never reported: released"
            )
        await asyncio.gather(*(self._release(run_id, step) for run_id, step in kept))

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

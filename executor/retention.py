"""Retention: finished runs are deleted, with their steps, logs and signals, once they are
older than their workflow's retention (its ``retention:`` key, else ``--retention``), by one
instance of a fleet at a time.

    retention = Retention(store, owner=instance_id, default=settings.retention)
    task = group.create_task(retention.run())  # a pass now, then one every interval
    ...
    task.cancel()  # stops at once; a page cut short is rolled back

`executor purge` deletes by hand with `purge`, through the same pages.

Cost does not grow with history. A pass walks each workflow's finished runs oldest first,
one page (`Store.purge_runs`: at most `PAGE_MAX` runs, its own short transaction) at a time,
and stops at the first run that is too young. Between two pages it pauses as long as the
page took (`Pacing`), so the claims of the engine, which wait for the write lock on SQLite,
wait for one page at most and find it free at least half of the time; and it sizes pages to
take about `PAGE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from executor import metrics
from executor.artifacts import Artifacts
from executor.cancel import pause
from executor.durations import format_duration
from executor.engine.core import DEFAULT_LIMITS
from executor.errors import ExecutorError
from executor.statuses import RunStatus
from executor.store import Store, create_store
from executor.store.url import DatabaseURL

CHORE = "retention"  # its row in the chores table
INTERVAL = 300.0  # at most this long between two passes of a fleet
MIN_INTERVAL = 1.0  # at least this long (a tiny retention: a pass a second, not a busy loop)
LEASE = 60.0  # how long a pass holds the chore without renewing it (renewed every third)
# How long a page should take, about. SQLite: a page holds the one write lock, which a claim
# then waits for: 5 ms is the commit's fsync and a few dozen runs. Measured (scripts/bench
# --only purge, 100,000 runs, one sample each): claim p99 3.0 ms idle, 7.6 ms during a purge
# at 2,730 runs/s; with 3 ms pages 2.2 and 5.3 ms at 1,350 runs/s (no better a ratio, half
# the rate). PostgreSQL: claims never wait for a page (other rows), so pages are as large as
# keeps one transaction short (2,435 runs/s; claim p99 4.5 ms idle, 6.1 ms during).
PAGE_SECONDS = {"sqlite": 0.005, "postgres": 0.1}
PAGE_FIRST, PAGE_MIN, PAGE_MAX = 50, 5, 1000  # runs per page
ROUNDS = 2  # a second round takes the parents whose children went after them in the first

OnPage = Callable[[int], Awaitable[None]]
"""Hears how many runs each page deleted (or would); raising stops the pass."""


class LeaseLost(ExecutorError):
    """Another instance took the retention chore: this one's pass stops."""


@dataclass
class Pacing:
    """How many runs the next page takes, and how long to pause after a page: pages take
    about ``target`` seconds each, with a pause of ``ratio`` times what the page took."""

    target: float = PAGE_SECONDS["sqlite"]
    ratio: float = 1.0
    size: int = PAGE_FIRST
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    @classmethod
    def of(cls, store: Store) -> Pacing:
        """The pacing that suits ``store``'s database."""
        return cls(target=PAGE_SECONDS.get(store.dialect, PAGE_SECONDS["sqlite"]))

    def after(self, seconds: float) -> float:
        """Resize after a page that took ``seconds``; return the pause before the next."""
        if seconds < self.target / 2:
            self.size = min(self.size * 2, PAGE_MAX)
        elif seconds > self.target:
            self.size = max(int(self.size * self.target / seconds), PAGE_MIN)
        return seconds * self.ratio


async def purge(
    store: Store,
    older_than: float,
    *,
    workflow: str | None = None,
    status: RunStatus | None = None,
    dry_run: bool = False,
    pacing: Pacing | None = None,
    on_page: OnPage | None = None,
    rounds: int = ROUNDS,
) -> int:
    """Delete the finished runs (of ``workflow``, in ``status``) that finished more than
    ``older_than`` seconds ago, page by page; return how many were deleted (with
    ``dry_run``: how many would be, deleting nothing). ``on_page`` hears each page's count."""
    total, pacing = 0, pacing or Pacing.of(store)
    for _ in range(1 if dry_run else rounds):
        deleted = await _walk(store, older_than, workflow, status, dry_run, pacing, on_page)
        total += deleted
        if not deleted:
            break
    if total and not dry_run:
        await reclaim(store, pacing)
    return total


async def reclaim(store: Store, pacing: Pacing) -> None:
    """Give the space of deleted runs back to the file system, a little at a time, paced as
    the pages were (`Store.reclaim_space`; nothing to do on PostgreSQL)."""
    left = None
    while True:
        began = pacing.clock()
        now_left = await store.reclaim_space()
        if not now_left or now_left == left:  # done, or no way on now (the next pass goes on)
            return
        left = now_left
        await pause((pacing.clock() - began) * pacing.ratio)


def purge_database(
    database: DatabaseURL,
    older_than: float,
    *,
    workflow: str | None = None,
    status: RunStatus | None = None,
    dry_run: bool = False,
    progress: list[int] | None = None,
    artifacts_dir: Path | None = None,
) -> int:
    """`purge` on ``database`` from a process of its own (`executor purge`): opens a store
    (two connections at most), purges, closes it. ``progress`` (if given) holds the count
    so far, for a caller that is interrupted. With ``artifacts_dir`` (``--artifacts-dir``),
    the folders of the runs deleted go too, as the service's retention pass does."""

    async def counted(deleted: int) -> None:
        if progress is not None:
            progress[0] += deleted

    async def purging() -> int:
        async with create_store(database, pool_size=2) as store:
            deleted = await purge(
                store, older_than, workflow=workflow, status=status, dry_run=dry_run, on_page=counted
            )
            if artifacts_dir is not None and not dry_run:
                await sweep_artifacts(Artifacts(store, DEFAULT_LIMITS, artifacts_dir))
            return deleted

    return asyncio.run(purging())


async def _walk(
    store: Store,
    older_than: float,
    workflow: str | None,
    status: RunStatus | None,
    dry_run: bool,
    pacing: Pacing,
    on_page: OnPage | None,
) -> int:
    """One round: every page from the oldest run to the cutoff."""
    total, after = 0, None
    while True:
        began = pacing.clock()
        batch = await store.purge_runs(
            older_than, workflow=workflow, status=status, after=after, limit=pacing.size, dry_run=dry_run
        )
        if batch.cursor is None or batch.cursor == after:  # nothing left (or no way on)
            return total
        total += batch.deleted
        if on_page is not None:
            await on_page(batch.deleted)
        after = batch.cursor
        # Yields even when the page was instant: nothing else waits for a whole pass.
        await pause(pacing.after(pacing.clock() - began))


async def sweep_artifacts(artifacts: Artifacts) -> None:
    """Delete the artifacts that will never be kept (uploads cut short, superseded ones), and
    the folders of ``--artifacts-dir`` whose run is gone: what a crash between deleting a
    run and its files would otherwise leave behind."""
    swept = 0
    while (count := await artifacts.sweep()) > 0:
        swept += count
    folders = await artifacts.sweep_folders()
    if swept or folders:
        logger.info(
            "retention: deleted {} unkept artifact(s) and {} folder(s) of deleted runs", swept, folders
        )


class Retention:
    """The loop of `executor serve` that deletes old finished runs (see the module).

    ``owner`` names this instance in the chores table (its instance id); ``default`` is the
    ``--retention`` setting in seconds (0: runs are kept unless their workflow says
    otherwise). A pass starts at once and then every ``interval`` seconds (shorter when a
    retention is: a tenth of the shortest, but at least `MIN_INTERVAL`), by whichever instance
    takes the chore first; the others skip it.
    """

    def __init__(
        self,
        store: Store,
        *,
        owner: str,
        default: float,
        interval: float = INTERVAL,
        lease: float = LEASE,
        pacing: Pacing | None = None,
        artifacts: Artifacts | None = None,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.owner = owner
        self.default = default
        self.interval = interval
        self.lease = lease
        self.pacing = pacing or Pacing.of(store)

    async def run(self) -> None:
        """Pass after pass until cancelled. A store error is logged and the pass tried again
        an interval later; nothing else stops it."""
        while True:
            every = self.interval
            try:
                every = await self.interval_now()
                await self.once(every)
            except ExecutorError as exc:
                logger.warning("retention: {}; trying again in {}", exc.message, format_duration(every))
            await pause(every)

    async def interval_now(self) -> float:
        """The time between passes: `interval`, or a tenth of the shortest retention (the
        default's too: a workflow registered later is kept by it)."""
        kept = [seconds for _, seconds in await self.plan()]
        if self.default > 0:
            kept.append(self.default)
        shortest = min(kept, default=self.interval * 10)
        return max(MIN_INTERVAL, min(self.interval, shortest / 10))

    async def plan(self) -> list[tuple[str, float]]:
        """``(workflow, seconds its finished runs are kept)`` of every workflow whose runs are
        not kept forever. A workflow's latest version decides, for all its runs."""
        plan = []
        for record in await self.store.list_workflows():
            # The definition holds `retention` only when set (`Workflow.retention`).
            seconds = record.definition.get("retention")
            seconds = self.default if seconds is None else float(seconds)
            if seconds > 0:
                plan.append((record.name, seconds))
        return plan

    async def once(self, every: float | None = None) -> int | None:
        """One pass, if this instance takes the chore (not done by any instance within
        ``every`` seconds, default `interval`); how many runs it deleted, or None when the
        pass was not this instance's to do."""
        every = self.interval if every is None else every
        if not await self.store.take_chore(CHORE, self.owner, lease=self.lease, every=every):
            return None
        began = time.monotonic()
        renewed, total, done = began, 0, False

        async def page_done(deleted: int) -> None:
            nonlocal renewed, total
            total += deleted
            metrics.retention_deleted(deleted)
            if time.monotonic() - renewed > self.lease / 3:
                if not await self.store.take_chore(CHORE, self.owner, lease=self.lease, every=every):
                    raise LeaseLost("another instance took the retention chore")
                renewed = time.monotonic()

        try:
            for _ in range(ROUNDS):
                before = total
                for workflow, seconds in await self.plan():
                    await _walk(self.store, seconds, workflow, None, False, self.pacing, page_done)
                if total == before:
                    break
            if self.artifacts is not None:
                await sweep_artifacts(self.artifacts)
            if total:
                await reclaim(self.store, self.pacing)
            done = True
        finally:
            if done or total:
                self._log(total, time.monotonic() - began)
            if done:
                await self.store.finish_chore(CHORE, self.owner, done=True)
        return total

    def _log(self, deleted: int, seconds: float) -> None:
        if deleted:
            logger.info("retention: deleted {} finished run(s) in {:.1f}s", deleted, seconds)
        else:
            logger.debug("retention: nothing to delete")

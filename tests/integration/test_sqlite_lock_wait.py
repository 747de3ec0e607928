"""Waiting for another process's SQLite write lock: in a thread, never on the event loop,
and a cancelled wait ends at once rather than after the busy timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from executor.store import create_store
from executor.store.url import DatabaseURL
from tests.support.databases import POOL_SIZE


async def test_a_cancelled_wait_for_the_write_lock_ends_at_once(sqlite_url: str) -> None:
    database = DatabaseURL.parse(sqlite_url)
    store = create_store(database, pool_size=POOL_SIZE)
    await store.open()
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        writing = asyncio.create_task(store.heartbeat("nobody", "running"))
        # The wait happens in a thread: the loop goes on (and the task is still waiting).
        await asyncio.sleep(0.3)
        assert not writing.done()
        started = time.monotonic()
        writing.cancel()
        try:
            await writing
        except asyncio.CancelledError:
            pass
        waited = time.monotonic() - started
        assert waited < 2, f"the cancelled wait went on for {waited:.1f}s (busy timeout 30s)"
        other.execute("ROLLBACK")
        # The store still works: nothing of the cancelled wait holds the lock.
        async with store.transaction() as txn:
            assert await txn.lock_run("00000000-0000-0000-0000-000000000000") is None
    finally:
        other.close()
        await store.close()

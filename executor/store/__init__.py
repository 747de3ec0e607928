"""Persistence: the `Store` contract and its SQLite and PostgreSQL implementations."""

from __future__ import annotations

import time

from executor.store.base import Clock, Instance, Store
from executor.store.url import DatabaseURL

__all__ = ["Clock", "Instance", "Store", "create_store"]


def create_store(database: DatabaseURL, *, pool_size: int, clock: Clock | None = None) -> Store:
    """The store for ``database``'s URL scheme (not yet opened); ``pool_size`` bounds the
    PostgreSQL connection pool; ``clock`` is where the store reads "now" (tests move it;
    by default SQLite reads this host's clock and PostgreSQL the database's)."""
    if database.dialect == "sqlite":
        from executor.store.sqlite import SQLiteStore

        return SQLiteStore(database.sqlite_path, clock=clock or time.time)
    from executor.store.postgres import PostgresStore

    return PostgresStore(database.url, max_size=pool_size, clock=clock)

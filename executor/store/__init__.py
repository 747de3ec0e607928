"""Persistence: the `Store` contract and its SQLite and PostgreSQL implementations."""

from __future__ import annotations

from executor.store.base import Instance, Store
from executor.store.url import DatabaseURL

__all__ = ["Instance", "Store", "create_store"]


def create_store(database: DatabaseURL, pool_size: int = 10) -> Store:
    """The store for ``database``'s URL scheme (not yet opened); ``pool_size`` bounds the
    PostgreSQL connection pool."""
    if database.dialect == "sqlite":
        from executor.store.sqlite import SQLiteStore

        return SQLiteStore(database.sqlite_path)
    from executor.store.postgres import PostgresStore

    return PostgresStore(database.url, max_size=pool_size)

"""Fixtures of the store contract suite: every test runs once per backend (``database_url``)
on a store whose clock the test moves (`FakeClock`), so leases expire without sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from executor.store import Store, create_store
from executor.store.url import DatabaseURL
from tests.contract.helpers import FakeClock, OpenStore
from tests.support.databases import POOL_SIZE


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_store(database_url: str, clock: FakeClock) -> OpenStore:
    """Opens another store on the same database and clock: another process, as far as the
    database can tell (its own connections)."""
    database = DatabaseURL.parse(database_url)  # a migrated copy of the session's template

    @asynccontextmanager
    async def opened() -> AsyncIterator[Store]:
        async with create_store(database, clock=clock, pool_size=POOL_SIZE) as store:
            yield store

    return opened


@pytest.fixture
async def store(open_store: OpenStore) -> AsyncIterator[Store]:
    async with open_store() as opened:
        yield opened

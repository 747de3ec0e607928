from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.engine import Harness, running_engine


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    """An engine on each backend (SQLite file; PostgreSQL database under the postgres mark)."""
    async with running_engine(database_url) as running:
        yield running

"""The `Store`: every database operation the service performs, named in domain terms.

The engine and the HTTP layer never see SQL. Two implementations exist, `SQLiteStore`
(embedded default) and `PostgresStore` (fleets); one contract test suite
(``tests/contract``) runs against both, and a difference in behaviour between them is a bug.

Contract shared by every method:

* A method that changes state commits before it returns: once it has returned, the change
  survives a crash of the process (``kill -9``) and, with default settings, a power loss.
* A method that fails raises `StoreError` (driver errors are wrapped ``from`` the original)
  and leaves no partial change behind.
* Times are UTC ``datetime`` objects with a time zone.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Instance:
    """One Executor process as it records itself in the instance registry."""

    id: str
    host: str
    pid: int
    version: str
    state: str
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None


class Store(abc.ABC):
    dialect: str

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect. Raises `StoreError` when the database cannot be reached.

        Does not migrate and does not check the schema version: that is `executor.migrate`'s
        job, done before the store is opened.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every connection. Safe to call more than once, and after a failed `open`."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Round-trip to the database; raise `StoreError` when it does not answer."""

    @abc.abstractmethod
    async def register_instance(self, instance: Instance) -> None:
        """Record (or replace) ``instance`` in the registry, its heartbeat set to now."""

    @abc.abstractmethod
    async def heartbeat(self, instance_id: str, state: str) -> None:
        """Set the instance's state and its heartbeat to now.

        Raises `StoreError` when the instance is not registered: a registry row that
        vanished (deleted by an operator) must not be recreated silently.
        """

    @abc.abstractmethod
    async def list_instances(self) -> list[Instance]:
        """Every registered instance, oldest first."""

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

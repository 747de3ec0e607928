"""Workflow definitions: versions, registration by digest (also concurrent), reads."""

from __future__ import annotations

import asyncio

from executor.store import Store
from executor.store.records import WorkflowRecord, WorkflowVersion
from tests.contract.helpers import FakeClock, OpenStore


def definition(n: int) -> tuple[str, str, dict[str, object]]:
    return f"digest-{n}", f"name: w  # {n}", {"name": "w", "n": n, "steps": [{"id": "a"}]}


async def test_a_definition_is_stored_as_the_next_version_of_its_name(store: Store, clock: FakeClock) -> None:
    first, new = await store.register_workflow("w", *definition(1))
    assert new and first == WorkflowRecord("w", 1, *definition(1), created_at=clock())
    clock.advance(1)
    second, new = await store.register_workflow("w", *definition(2))
    assert new and (second.version, second.created_at) == (2, clock())
    other, new = await store.register_workflow("other", *definition(1))
    assert new and other.version == 1


async def test_a_digest_already_stored_creates_nothing_and_returns_its_version(store: Store) -> None:
    await store.register_workflow("w", *definition(1))
    await store.register_workflow("w", *definition(2))
    again, new = await store.register_workflow("w", *definition(1))
    assert not new and again.version == 1 and again.definition == definition(1)[2]
    latest = await store.get_workflow("w")
    assert latest is not None and latest.version == 2


async def test_concurrent_registrations_of_one_definition_make_one_version(
    store: Store, open_store: OpenStore
) -> None:
    async with open_store() as other:
        results = await asyncio.gather(
            *(on.register_workflow("w", *definition(1)) for _ in range(4) for on in (store, other))
        )
    assert {record.version for record, _ in results} == {1}
    assert [new for _, new in results].count(True) == 1
    assert [r.version for r in await store.list_workflows()] == [1]


async def test_concurrent_registrations_of_different_definitions_get_consecutive_versions(
    store: Store, open_store: OpenStore
) -> None:
    async with open_store() as other:
        results = await asyncio.gather(
            *(on.register_workflow("w", *definition(n)) for n in range(4) for on in (store, other)),
            *(on.register_workflow("w", *definition(n)) for n in range(4, 8) for on in (store, other)),
        )
    assert sorted({record.version for record, _ in results}) == list(range(1, 9))
    by_digest = {record.digest: record.version for record, _ in results}
    assert len(by_digest) == 8, "one version per definition"


async def test_get_workflow_reads_the_latest_or_the_asked_version_or_none(store: Store) -> None:
    await store.register_workflow("w", *definition(1))
    await store.register_workflow("w", *definition(2))
    latest, first = await store.get_workflow("w"), await store.get_workflow("w", 1)
    assert latest is not None and (latest.version, latest.digest) == (2, "digest-2")
    assert first is not None and (first.version, first.definition) == (1, definition(1)[2])
    assert await store.get_workflow("w", 3) is None
    assert await store.get_workflow("nope") is None
    async with store.transaction() as txn:
        assert await txn.get_workflow("w") == latest
        assert await txn.get_workflow("w", 1) == first
        assert await txn.get_workflow("w", 3) is None
        assert await txn.get_workflow("nope") is None


async def test_list_workflows_gives_the_latest_version_of_each_by_name(store: Store) -> None:
    assert await store.list_workflows() == []
    for name, n in (("zeta", 1), ("alpha", 1), ("zeta", 2), ("mid", 1), ("alpha", 2), ("alpha", 3)):
        await store.register_workflow(name, *definition(n))
    assert [(r.name, r.version) for r in await store.list_workflows()] == [
        ("alpha", 3),
        ("mid", 1),
        ("zeta", 2),
    ]


async def test_list_workflow_versions_gives_every_version_newest_first_without_the_source(
    store: Store, clock: FakeClock
) -> None:
    assert await store.list_workflow_versions("w") == []
    for n in (1, 2, 3):
        await store.register_workflow("w", *definition(n))
        clock.advance(1)
    await store.register_workflow("other", *definition(1))
    await store.register_workflow("w", *definition(2))  # the same definition: no new version
    assert await store.list_workflow_versions("w") == [
        WorkflowVersion("w", 3, "digest-3", created_at=clock() - 1),
        WorkflowVersion("w", 2, "digest-2", created_at=clock() - 2),
        WorkflowVersion("w", 1, "digest-1", created_at=clock() - 3),
    ]
    assert [v.version for v in await store.list_workflow_versions("other")] == [1]
    assert await store.list_workflow_versions("nope") == []

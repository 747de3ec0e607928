"""Artifacts: uploaded under a claim, visible only once kept by the claim's transaction,
superseded by a later success, swept when they will never be kept, gone with their run."""

from __future__ import annotations

import pytest

from executor.errors import StoreError
from executor.statuses import RunStatus, StepStatus
from executor.store import Store
from executor.store.records import Claimed, NewArtifact
from tests.contract.helpers import FakeClock, claim, new_run, queued, set_run, set_step


def new(claimed: Claimed, name: str) -> NewArtifact:
    row = claimed.row
    return NewArtifact(
        run_id=row.run_id,
        step=row.id,
        step_id=row.step_id,
        item_index=row.item_index,
        attempt=row.attempt,
        token=claimed.token,
        name=name,
        media_type="text/plain",
        stored="database",
    )


async def upload(store: Store, claimed: Claimed, name: str, chunks: list[bytes]) -> int:
    artifact = await store.add_artifact(new(claimed, name))
    await store.put_artifact_chunks(artifact, 0, chunks)
    await store.finish_artifact(artifact, sum(map(len, chunks)), "f" * 64)
    return artifact


async def keep(store: Store, claimed: Claimed) -> None:
    async with store.transaction() as txn:
        await txn.keep_artifacts(claimed.row.id, claimed.token)


async def claimed_step(store: Store, clock: FakeClock) -> Claimed:
    await new_run(store, [queued("build", clock())])
    [claimed] = await claim(store)
    return claimed


async def test_an_upload_is_invisible_until_kept_then_listed_and_read_by_chunk(
    store: Store, clock: FakeClock
) -> None:
    claimed = await claimed_step(store, clock)
    run_id = claimed.row.run_id
    artifact = await upload(store, claimed, "b.txt", [b"one", b"two"])
    await upload(store, claimed, "a.txt", [b"x"])
    assert await store.list_artifacts(run_id) == []
    assert await store.get_artifact(run_id, "build", -1, "b.txt") is None
    await keep(store, claimed)
    listed = await store.list_artifacts(run_id)
    assert [(a.name, a.size, a.state, a.attempt, a.sha256) for a in listed] == [
        ("a.txt", 1, "kept", 1, "f" * 64),
        ("b.txt", 6, "kept", 1, "f" * 64),
    ]
    found = await store.get_artifact(run_id, "build", -1, "b.txt")
    assert found is not None and found.id == artifact
    assert [await store.read_artifact_chunk(artifact, seq) for seq in range(3)] == [b"one", b"two", None]
    assert await store.kept_artifact_bytes(run_id) == 7


async def test_a_chunk_written_twice_is_an_error(store: Store, clock: FakeClock) -> None:
    claimed = await claimed_step(store, clock)
    artifact = await store.add_artifact(new(claimed, "a"))
    await store.put_artifact_chunks(artifact, 0, [b"x"])
    with pytest.raises(StoreError):
        await store.put_artifact_chunks(artifact, 0, [b"y"])
    assert await store.read_artifact_chunk(artifact, 0) == b"x"


async def test_a_later_success_supersedes_the_earlier_artifacts(store: Store, clock: FakeClock) -> None:
    first = await claimed_step(store, clock)
    run_id = first.row.run_id
    old = await upload(store, first, "a.txt", [b"old"])
    await keep(store, first)
    await set_step(store, first.row.id, status=StepStatus.QUEUED, available_at=clock())
    [second] = await claim(store)
    assert second.token != first.token
    await upload(store, second, "a.txt", [b"new"])
    assert [a.id for a in await store.list_artifacts(run_id)] == [old], "the old one until the new is kept"
    await keep(store, second)
    [kept] = await store.list_artifacts(run_id)
    assert kept.id != old and kept.attempt == 2
    assert [a.id for a in await store.unkept_artifacts(10)] == [old]
    await store.delete_artifacts([old, kept.id])  # a kept one is never deleted this way
    assert await store.unkept_artifacts(10) == []
    assert await store.read_artifact_chunk(old, 0) is None
    assert [a.id for a in await store.list_artifacts(run_id)] == [kept.id]


async def test_uploads_of_a_live_claim_are_not_swept_those_of_an_ended_one_are(
    store: Store, clock: FakeClock
) -> None:
    claimed = await claimed_step(store, clock)
    artifact = await upload(store, claimed, "a", [b"x"])
    assert await store.unkept_artifacts(10) == [], "its attempt still runs under that claim"
    await set_step(store, claimed.row.id, status=StepStatus.FAILED)
    assert [a.id for a in await store.unkept_artifacts(10)] == [artifact]


async def test_discard_deletes_the_claims_uploads_and_returns_them(store: Store, clock: FakeClock) -> None:
    claimed = await claimed_step(store, clock)
    artifact = await upload(store, claimed, "a", [b"x"])
    [gone] = await store.discard_artifacts(claimed.row.id, claimed.token)
    assert (gone.id, gone.name, gone.state) == (artifact, "a", "uploading")
    assert await store.read_artifact_chunk(artifact, 0) is None
    assert await store.discard_artifacts(claimed.row.id, claimed.token) == []


async def test_artifacts_go_with_their_run(store: Store, clock: FakeClock) -> None:
    claimed = await claimed_step(store, clock)
    run_id = claimed.row.run_id
    artifact = await upload(store, claimed, "a", [b"x"])
    await keep(store, claimed)
    await set_step(store, claimed.row.id, status=StepStatus.SUCCEEDED)
    await set_run(store, run_id, status=RunStatus.SUCCEEDED, finished_at=clock() - 10)
    assert (await store.purge_runs(5)).deleted == 1
    assert await store.list_artifacts(run_id) == []
    assert await store.read_artifact_chunk(artifact, 0) is None
    assert await store.missing_runs([run_id, "not-a-run"]) == [run_id, "not-a-run"]


async def test_unknown_runs_and_names_find_nothing(store: Store, clock: FakeClock) -> None:
    claimed = await claimed_step(store, clock)
    assert await store.list_artifacts("not-a-uuid") == []
    assert await store.get_artifact("not-a-uuid", "build", -1, "a") is None
    assert await store.get_artifact(claimed.row.run_id, "build", -1, "../a") is None
    assert await store.missing_runs([claimed.row.run_id]) == []
    assert await store.missing_runs([]) == []


async def test_finishing_an_upload_that_was_swept_says_so(store: Store, clock: FakeClock) -> None:
    claimed = await claimed_step(store, clock)
    artifact = await store.add_artifact(new(claimed, "a"))
    assert await store.finish_artifact(artifact, 1, "f" * 64) is True
    # Its claim ended (a lost lease) and the sweep took the row while the file was copied:
    # the uploader learns it must delete what it wrote.
    await store.discard_artifacts(claimed.row.id, claimed.token)
    assert await store.finish_artifact(artifact, 1, "f" * 64) is False


async def test_the_run_total_may_leave_out_the_row_that_is_about_to_keep_new_ones(
    store: Store, clock: FakeClock
) -> None:
    await new_run(store, [queued("one", clock()), queued("two", clock())])
    first, second = sorted(await claim(store), key=lambda c: c.row.step_id)
    await upload(store, first, "a", [b"xxx"])
    await keep(store, first)
    await upload(store, second, "b", [b"yy"])
    await keep(store, second)
    run_id = first.row.run_id
    assert await store.kept_artifact_bytes(run_id) == 5
    assert await store.kept_artifact_bytes(run_id, besides=first.row.id) == 2
    assert await store.kept_artifact_bytes(run_id, besides=second.row.id) == 3

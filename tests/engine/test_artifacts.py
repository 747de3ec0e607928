"""Artifacts in the engine, on both backends: the files a shell step's successful attempt
leaves (in EXECUTOR_ARTIFACTS_DIR, or matched by its `artifacts:` paths) are kept with the
run; a failed attempt's are not; a for_each step's are kept per item; a later step reads
them (`steps.x.artifacts`) and finds them in its working directory (`artifacts_from`);
limits fail the step with a clear error; directory storage keeps the bytes in files."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path

import pytest

from executor.actions import Succeeded
from executor.artifacts import CHUNK, Artifacts, Collected, Limits
from executor.engine.core import DEFAULT_LIMITS
from executor.engine.runner import run_attempt
from executor.errors import ArtifactRefused
from executor.statuses import StepStatus
from executor.store import Store
from executor.store.records import ArtifactRecord, Claimed, NewArtifact
from executor.workflow import Masker, parse_workflow
from tests.contract.helpers import set_step
from tests.engine.test_leases import opened, stalled
from tests.support.engine import Harness, running_engine
from tests.support.waiting import async_wait_until


async def read(harness: Harness, artifact: ArtifactRecord, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([piece async for piece in harness.engine.artifacts.read(artifact, start, end)])


async def test_files_left_in_the_artifacts_dir_and_declared_paths_are_kept(
    harness: Harness, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run_id = await harness.submit(f"""
name: build
steps:
  - id: build
    action: shell
    with:
      cwd: {work}
      command: |
        printf 'hello' > "$EXECUTOR_ARTIFACTS_DIR/report.txt"
        mkdir -p "$EXECUTOR_ARTIFACTS_DIR/html" dist
        printf '<p>hi</p>' > "$EXECUTOR_ARTIFACTS_DIR/html/index.html"
        printf 'wheel' > dist/app-1.0.whl
        printf 'not me' > dist/notes.md
    artifacts: ["dist/*.whl"]
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", steps["build"].error
    listed = await harness.engine.list_artifacts(run_id)
    assert [(a.step_id, a.item_index, a.name, a.size, a.media_type, a.state) for a in listed] == [
        ("build", -1, "dist/app-1.0.whl", 5, "application/octet-stream", "kept"),
        ("build", -1, "html/index.html", 9, "text/html", "kept"),
        ("build", -1, "report.txt", 5, "text/plain", "kept"),
    ]
    report = await harness.engine.artifact(run_id, "build", None, "report.txt")
    assert report.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert await read(harness, report) == b"hello"
    assert await read(harness, report, 1, 4) == b"ell"


async def test_a_failed_attempt_leaves_nothing_and_the_retry_keeps_its_own(harness: Harness) -> None:
    run_id = await harness.submit("""
name: flaky
steps:
  - id: build
    action: shell
    retry: {max_attempts: 2, delay: 10ms}
    with:
      command: |
        printf "attempt $EXECUTOR_ATTEMPT" > "$EXECUTOR_ARTIFACTS_DIR/attempt-$EXECUTOR_ATTEMPT.txt"
        test "$EXECUTOR_ATTEMPT" = 2
""")
    run, _ = await harness.wait(run_id)
    assert run.status == "succeeded"
    listed = await harness.engine.list_artifacts(run_id)
    assert [(a.name, a.attempt) for a in listed] == [("attempt-2.txt", 2)]
    assert await read(harness, listed[0]) == b"attempt 2"
    # The first attempt uploaded nothing: nothing is left to sweep either.
    assert await harness.engine.artifacts.sweep() == 0


async def test_a_failed_step_keeps_no_artifacts(harness: Harness) -> None:
    run_id = await harness.submit("""
name: broken
steps:
  - {id: build, action: shell, with: {command: "echo x > $EXECUTOR_ARTIFACTS_DIR/x; exit 3"}}
""")
    run, _ = await harness.wait(run_id)
    assert run.status == "failed"
    assert await harness.engine.list_artifacts(run_id) == []


async def test_for_each_items_keep_theirs_and_a_later_step_takes_them(harness: Harness) -> None:
    run_id = await harness.submit("""
name: fan
steps:
  - id: build
    action: shell
    for_each: [a, b]
    with: {command: "printf '{{ item }}' > $EXECUTOR_ARTIFACTS_DIR/out.txt"}
  - id: report
    action: shell
    needs: [build]
    with: {command: "printf 'r' > $EXECUTOR_ARTIFACTS_DIR/summary.txt"}
  - id: pack
    action: shell
    needs: [report]
    with:
      artifacts_from: [build, report]
      command: [sh, -c, 'cat 0/out.txt 1/out.txt summary.txt; echo; pwd']
    outputs: {seen: "{{ result.stdout }}"}
  - id: names
    action: noop
    needs: [build]
    with: {output: "{{ steps.build.artifacts | map(attribute='item') | list }} {{ steps.build.artifacts[0].url }}"}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", {k: v.error for k, v in steps.items()}
    listed = await harness.engine.list_artifacts(run_id)
    assert [(a.step_id, a.item_index, a.name) for a in listed] == [
        ("build", 0, "out.txt"),
        ("build", 1, "out.txt"),
        ("report", -1, "summary.txt"),
    ]
    item_1 = await harness.engine.artifact(run_id, "build", 1, "out.txt")
    assert await read(harness, item_1) == b"b"
    seen, cwd = steps["pack"].output["seen"].split("\n")[:2]
    assert seen == "abr"
    assert "executor-attempt-" in cwd, "a fresh working directory"
    assert not await asyncio.to_thread(os.path.exists, cwd), "removed after the attempt"
    assert steps["names"].output == f"[0, 1] /runs/{run_id}/artifacts/build/out.txt?item=0"


async def test_artifacts_from_writes_into_the_given_cwd(harness: Harness, tmp_path: Path) -> None:
    target = tmp_path / "ws"
    run_id = await harness.submit(f"""
name: into_cwd
steps:
  - {{id: make, action: shell, with: {{command: "mkdir -p $EXECUTOR_ARTIFACTS_DIR/d; printf 1 > $EXECUTOR_ARTIFACTS_DIR/d/f"}}}}
  - {{id: take, action: shell, needs: [make], with: {{cwd: "{target}", artifacts_from: [make], command: "cat d/f"}}}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", steps["take"].error
    assert steps["take"].output["stdout"] == "1"
    assert (target / "d" / "f").read_text() == "1"


async def test_an_artifact_over_the_file_limit_fails_the_step_naming_it(database_url: str) -> None:
    async with running_engine(database_url, limits=Limits(file=2048, run=1 << 20)) as harness:
        run_id = await harness.submit("""
name: big
steps:
  - id: build
    action: shell
    retry: {max_attempts: 3, delay: 10ms}
    with: {command: "head -c 4096 /dev/zero > $EXECUTOR_ARTIFACTS_DIR/big.bin"}
""")
        run, steps = await harness.wait(run_id)
        assert run.status == "failed"
        build = steps["build"]
        assert build.attempt == 1, "a limit is not worth retrying"
        assert build.error is not None
        assert (
            "'big.bin' is 4.0 KiB, over the limit of 2.0 KiB per artifact (--artifact-max-file)"
            in build.error
        )
        assert await harness.engine.list_artifacts(run_id) == []


async def test_artifacts_over_the_run_limit_fail_the_step_that_passes_it(database_url: str) -> None:
    async with running_engine(database_url, limits=Limits(file=1 << 20, run=6000)) as harness:
        run_id = await harness.submit("""
name: many
steps:
  - {id: one, action: shell, with: {command: "head -c 4000 /dev/zero > $EXECUTOR_ARTIFACTS_DIR/one.bin"}}
  - {id: two, action: shell, needs: [one], with: {command: "head -c 4000 /dev/zero > $EXECUTOR_ARTIFACTS_DIR/two.bin"}}
""")
        run, steps = await harness.wait(run_id)
        assert (run.status, steps["one"].status, steps["two"].status) == ("failed", "succeeded", "failed")
        assert steps["two"].error is not None and "per run (--artifact-max-run)" in steps["two"].error
        assert [a.name for a in await harness.engine.list_artifacts(run_id)] == ["one.bin"]


async def test_a_declared_path_that_does_not_exist_fails_the_step(harness: Harness) -> None:
    run_id = await harness.submit("""
name: missing
steps:
  - {id: build, action: shell, artifacts: [report.pdf], with: {command: "true"}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert (
        steps["build"].error is not None and "artifacts: 'report.pdf': no such file" in steps["build"].error
    )


async def test_a_repeated_step_keeps_its_last_iterations_artifacts(harness: Harness) -> None:
    run_id = await harness.submit("""
name: loop
steps:
  - id: poll
    action: shell
    repeat: {until: "{{ loop.index >= 2 }}", max: 5}
    with: {command: "printf '{{ loop.index }}' > $EXECUTOR_ARTIFACTS_DIR/state.txt; printf x > $EXECUTOR_ARTIFACTS_DIR/only-{{ loop.index }}"}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", steps["poll"].error
    listed = await harness.engine.list_artifacts(run_id)
    assert [a.name for a in listed] == ["only-2", "state.txt"]
    assert await read(harness, listed[1]) == b"2"
    # The earlier iterations' (0 and 1, two files each) were superseded; the sweep deletes
    # them, rows and chunks.
    assert await harness.engine.artifacts.sweep() == 4
    assert await harness.engine.artifacts.sweep() == 0


async def test_directory_storage_keeps_the_bytes_in_files_and_sweeps_deleted_runs(
    database_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "artifacts"
    root.mkdir()
    async with running_engine(database_url, artifacts_dir=root) as harness:
        run_id = await harness.submit("""
name: files
steps:
  - {id: build, action: shell, with: {command: "printf data > $EXECUTOR_ARTIFACTS_DIR/a.txt"}}
""")
        run, _ = await harness.wait(run_id)
        assert run.status == "succeeded"
        [artifact] = await harness.engine.list_artifacts(run_id)
        assert artifact.stored == "directory"
        assert (root / run_id / str(artifact.id)).read_bytes() == b"data"
        assert await read(harness, artifact, 2) == b"ta"
        (root / "lost+found").mkdir()  # what else the volume holds is not ours to delete
        gone = "7d0b5a47-3cf6-4d5e-9a56-0a3a1f0e0c11"
        (root / gone).mkdir()
        assert await harness.engine.artifacts.sweep_folders() == 1, (
            "the folder of a run that does not exist goes"
        )
        assert not (root / gone).exists() and (root / "lost+found").is_dir()
        assert (root / run_id).is_dir(), "a live run's folder stays"
        # The run is deleted (as retention does): its folder goes at the next sweep.
        deleted = await harness.engine.store.purge_runs(-1e9)
        assert deleted.deleted == 1
        assert await harness.engine.artifacts.sweep_folders() == 1
        assert not (root / run_id).exists()
        assert await harness.engine.store.list_artifacts(run_id) == []


async def test_an_upload_under_a_lost_lease_is_never_listed_and_never_left_behind(database_url: str) -> None:
    flow = """
name: lost
steps:
  - {id: build, action: shell, with: {command: "printf $EXECUTOR_ATTEMPT > $EXECUTOR_ARTIFACTS_DIR/a.txt"}}
"""
    async with opened(database_url) as store:
        frozen = stalled(store, "frozen")
        await frozen.register(parse_workflow(flow), flow)
        run, _ = await frozen.submit("lost")
        [late] = await frozen.claim(1)  # an instance that froze after its claim
        async with running_engine(database_url, lease=0.3) as live:
            run, steps = await live.wait(run.id)
            assert (run.status, steps["build"].attempt) == ("succeeded", 2)
            # The frozen instance wakes: its attempt runs and uploads, its outcome is
            # rejected (the lease was lost) and its upload discarded.
            await frozen.run(late)
            [kept] = await live.engine.list_artifacts(run.id)
            assert (kept.attempt, await read(live, kept)) == (2, b"2")
            assert await store.unkept_artifacts(10) == []
            # Had it died between its upload and its outcome, the sweep would find the upload.
            workflow = parse_workflow(flow)
            outcome = await run_attempt(
                store, workflow, late, {}, Masker({}), "frozen", None, frozen.artifacts
            )
            assert isinstance(outcome, Succeeded) and outcome.artifacts == 1
            assert [a.attempt for a in await store.unkept_artifacts(10)] == [1]
            assert await live.engine.artifacts.sweep() == 1
            assert [a.id for a in await live.engine.list_artifacts(run.id)] == [kept.id]


async def test_a_glob_does_not_walk_into_links_to_folders(harness: Harness, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    # Two links to `.` made glob.glob's `**` walk 2^40 paths (a hang, memory without end).
    run_id = await harness.submit(f"""
name: loops
steps:
  - id: build
    action: shell
    with:
      cwd: {work}
      command: "printf a > sub/a.txt; printf h > sub/.h.txt; ln -s . sub/l1; ln -s . sub/l2"
    artifacts: ["**/*.txt"]
""")
    run, steps = await harness.wait(run_id, timeout=20)
    assert run.status == "succeeded", steps["build"].error
    assert [a.name for a in await harness.engine.list_artifacts(run_id)] == ["sub/a.txt"]


async def test_a_repeated_step_replacing_its_artifacts_stays_under_the_run_limit(database_url: str) -> None:
    async with running_engine(database_url, limits=Limits(file=1 << 20, run=3000)) as harness:
        run_id = await harness.submit("""
name: loop
steps:
  - id: poll
    action: shell
    repeat: {until: "{{ loop.index >= 2 }}", max: 5}
    with: {command: "head -c 2000 /dev/zero > $EXECUTOR_ARTIFACTS_DIR/state.bin"}
""")
        run, steps = await harness.wait(run_id)
        # Each iteration's 2000 bytes supersede the last's: the run never holds more.
        assert run.status == "succeeded", steps["poll"].error
        [kept] = await harness.engine.list_artifacts(run_id)
        assert (kept.name, kept.size) == ("state.bin", 2000)


async def test_a_limit_passed_by_a_byte_is_told_in_bytes(database_url: str) -> None:
    async with running_engine(database_url, limits=Limits(file=1024, run=1 << 20)) as harness:
        run_id = await harness.submit("""
name: edge
steps:
  - {id: build, action: shell, with: {command: "head -c 1025 /dev/zero > $EXECUTOR_ARTIFACTS_DIR/a.bin"}}
""")
        run, steps = await harness.wait(run_id)
        assert steps["build"].error is not None
        assert "'a.bin' is 1025 B, over the limit of 1024 B per artifact" in steps["build"].error


FROZEN = """
name: frozen
steps:
  - {id: build, action: shell, with: {command: "true"}}
"""


async def _frozen_claim(store: Store) -> Claimed:
    """A claim of an instance that froze after taking it (nobody renews or reaps it)."""
    frozen = stalled(store, "frozen")
    await frozen.register(parse_workflow(FROZEN), FROZEN)
    await frozen.submit("frozen")
    [claimed] = await frozen.claim(1)
    return claimed


async def test_a_directory_upload_swept_while_it_copied_leaves_no_file(
    database_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "artifacts"
    root.mkdir()
    source = tmp_path / "a.txt"
    source.write_bytes(b"data")

    class SweptMidway(Artifacts):
        async def _to_directory(self, run_id: str, artifact: int, path: Path) -> tuple[int, str]:
            copied = await super()._to_directory(run_id, artifact, path)
            await self.store.delete_artifacts([artifact])  # the sweep: the claim was lost meanwhile
            return copied

    async with opened(database_url) as store:
        claimed = await _frozen_claim(store)
        with pytest.raises(ArtifactRefused, match="claim ended during its upload"):
            await SweptMidway(store, DEFAULT_LIMITS, root).upload(claimed, [Collected("a.txt", source, 4)])
        assert list((root / claimed.row.run_id).iterdir()) == [], "no file without a row"


async def test_a_cancelled_directory_upload_leaves_no_file(database_url: str, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    root.mkdir()
    pipe = tmp_path / "pipe"  # a source that gives bytes when the test says
    os.mkfifo(pipe)
    async with opened(database_url) as store:
        claimed = await _frozen_claim(store)
        folder = root / claimed.row.run_id
        artifacts = Artifacts(store, DEFAULT_LIMITS, root)
        upload = asyncio.create_task(artifacts.upload(claimed, [Collected("a.bin", pipe, 0)]))
        writer = await asyncio.to_thread(open, pipe, "wb")
        try:
            await asyncio.to_thread(writer.write, b"x" * CHUNK)
            await asyncio.to_thread(writer.flush)
            await async_wait_until(lambda: folder.is_dir() and any(folder.iterdir()), what="the copy")
            upload.cancel()  # a lost lease, a cancelled run, a drain's end
            with pytest.raises(asyncio.CancelledError):
                await upload
            # The copy's thread wakes with more bytes: it gives up instead of finishing (and
            # closes the pipe, which may cut this write short: more than a pipe holds).
            with contextlib.suppress(BrokenPipeError):
                await asyncio.to_thread(writer.write, b"y" * CHUNK)
        finally:
            with contextlib.suppress(BrokenPipeError):
                await asyncio.to_thread(writer.close)
        await async_wait_until(lambda: not any(folder.iterdir()), what="the half copy removed")
        [unkept] = await store.discard_artifacts(claimed.row.id, claimed.token)
        assert unkept.stored == "directory"


async def test_the_sweep_deletes_a_half_copy_that_a_crash_left(database_url: str, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    async with opened(database_url) as store:
        claimed = await _frozen_claim(store)
        row = claimed.row
        artifact = await store.add_artifact(
            NewArtifact(
                run_id=row.run_id, step=row.id, step_id=row.step_id, item_index=-1, attempt=1,
                token=claimed.token, name="a.bin", media_type="application/octet-stream", stored="directory",
            )
        )  # fmt: skip
        folder = root / row.run_id
        folder.mkdir(parents=True)
        (folder / f".upload-{artifact}").write_bytes(b"half")  # the service was killed mid-copy
        await set_step(store, row.id, status=StepStatus.QUEUED)  # its claim is over
        assert await Artifacts(store, DEFAULT_LIMITS, root).sweep() == 1
        assert list(folder.iterdir()) == []


async def test_placing_artifacts_again_never_changes_a_file_a_command_reads(
    harness: Harness, tmp_path: Path
) -> None:
    run_id = await harness.submit("""
name: twice
steps:
  - {id: one, action: shell, with: {command: "printf old > $EXECUTOR_ARTIFACTS_DIR/r.txt"}}
  - {id: two, action: shell, with: {command: "printf new > $EXECUTOR_ARTIFACTS_DIR/r.txt"}}
""")
    run, _ = await harness.wait(run_id)
    assert run.status == "succeeded"
    one = await harness.engine.artifact(run_id, "one", None, "r.txt")
    two = await harness.engine.artifact(run_id, "two", None, "r.txt")
    folder = tmp_path / "shared"  # one `cwd` for the items of a for_each step
    folder.mkdir()
    await harness.engine.artifacts.place([one], folder, {})
    with (folder / "r.txt").open("rb") as reading:  # an item's command is reading it
        # A sibling item's attempt places the artifacts again: a new file replaces the
        # name, the one being read is never truncated and rewritten under it.
        await harness.engine.artifacts.place([two], folder, {})
        assert reading.read() == b"old"
    assert (folder / "r.txt").read_bytes() == b"new"
    assert sorted(p.name for p in folder.iterdir()) == ["r.txt"], "no partial file left"

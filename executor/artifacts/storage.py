"""Where artifacts' bytes live, and how they move: uploaded from an attempt's files,
streamed to a download, placed for a later step, swept when they will never be kept.

By default the database keeps them, in chunks of `CHUNK` bytes (a fleet needs nothing
more); with ``--artifacts-dir`` a directory does (a volume every instance of a fleet
mounts), one file per artifact at ``<dir>/<run id>/<artifact id>``, while the row stays in
the database. Either way nothing is ever held whole in memory: a chunk at a time.

Guarantee: an artifact is listed only once the transaction that recorded its attempt's
success kept it, and its bytes (and the file's fsync) were complete before that. An upload
cut short (a crash, a lost lease, a failed attempt) is never listed, and the sweep deletes
it. A run's artifacts go with the run (rows by cascade; a directory's run folders by
`sweep_folders`, which deletes the folder of every run that no longer exists).
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import secrets
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from loguru import logger

from executor.artifacts.collect import Collected, name_problem
from executor.errors import ArtifactRefused
from executor.sizes import format_size
from executor.store import Store
from executor.store.records import ArtifactRecord, Claimed, NewArtifact

CHUNK = 1 << 20
# Chunks written per transaction: few round trips, and SQLite's write lock held briefly.
CHUNKS_PER_WRITE = 4


@dataclass(frozen=True)
class Limits:
    file: int  # bytes per artifact (--artifact-max-file)
    run: int  # bytes of kept artifacts per run (--artifact-max-run)


# The media type of a compressed file is its compression's: `app.tar.gz` is gzip bytes, not a
# tar (served as the tar, a client would take the gzip for the tar it holds).
COMPRESSED = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}


def media_type(name: str) -> str:
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        return COMPRESSED.get(encoding, "application/octet-stream")
    return guessed or "application/octet-stream"


def artifact_json(artifact: ArtifactRecord) -> dict[str, Any]:
    """An artifact as the API lists it and templates see it (``steps.build.artifacts``)."""
    path = f"/runs/{artifact.run_id}/artifacts/{artifact.step_id}/{quote(artifact.name)}"
    return {
        "step": artifact.step_id,
        "item": artifact.item_index if artifact.item_index >= 0 else None,
        "name": artifact.name,
        "size": artifact.size,
        "sha256": artifact.sha256,
        "media_type": artifact.media_type,
        "attempt": artifact.attempt,
        "created_at": datetime.fromtimestamp(artifact.created_at, UTC).isoformat().replace("+00:00", "Z"),
        "url": path + (f"?item={artifact.item_index}" if artifact.item_index >= 0 else ""),
    }


class Artifacts:
    def __init__(self, store: Store, limits: Limits, directory: Path | None = None) -> None:
        self.store = store
        self.limits = limits
        self.directory = directory

    @property
    def stored(self) -> str:
        return "database" if self.directory is None else "directory"

    def _file(self, run_id: str, artifact: int) -> Path:
        assert self.directory is not None
        return self.directory / run_id / str(artifact)

    # -- upload ------------------------------------------------------------------------

    async def upload(self, claimed: Claimed, files: Sequence[Collected]) -> int:
        """Upload an attempt's files under its claim (uploading until the success is recorded:
        `Txn.keep_artifacts`). Over a limit: `ArtifactRefused`, nothing uploaded. Returns
        the bytes uploaded."""
        row = claimed.row
        total = sum(f.size for f in files)
        for f in files:
            if f.size > self.limits.file:
                shown, limit = _over(f.size, self.limits.file)
                raise ArtifactRefused(
                    f"artifact {f.name!r} is {shown}, over the limit of {limit} per artifact (--artifact-max-file)"
                )
        if files:
            # The row's own kept artifacts do not count: this success supersedes them (a
            # retry, a repeat iteration, a goto).
            kept = await self.store.kept_artifact_bytes(row.run_id, besides=row.id)
            if kept + total > self.limits.run:
                shown, limit = _over(kept + total, self.limits.run)
                raise ArtifactRefused(
                    f"the step's artifacts ({format_size(total)}) would bring the run's to {shown}, "
                    f"over the limit of {limit} per run (--artifact-max-run)"
                )
        for f in files:
            artifact = await self.store.add_artifact(
                NewArtifact(
                    run_id=row.run_id,
                    step=row.id,
                    step_id=row.step_id,
                    item_index=row.item_index,
                    attempt=row.attempt,
                    token=claimed.token,
                    name=f.name,
                    media_type=media_type(f.name),
                    stored=self.stored,
                )
            )
            if self.directory is None:
                size, digest = await self._to_database(artifact, f.path)
            else:
                size, digest = await self._to_directory(row.run_id, artifact, f.path)
            if size > self.limits.file:  # it grew while we read it
                raise ArtifactRefused(f"artifact {f.name!r} grew past the limit while it was uploaded")
            if not await self.store.finish_artifact(artifact, size, digest):
                # Swept while we copied (our claim is over: a lost lease): the file we
                # finished after the sweep deleted its row is ours to delete.
                if self.directory is not None:
                    self._remove_file(row.run_id, artifact)
                raise ArtifactRefused(f"artifact {f.name!r}: the attempt's claim ended during its upload")
        return total

    async def _to_directory(self, run_id: str, artifact: int, path: Path) -> tuple[int, str]:
        stop = threading.Event()
        try:
            return await asyncio.to_thread(_copy, path, self._file(run_id, artifact), stop)
        except asyncio.CancelledError:
            # The thread copies on else, and would leave a file after the sweep took the row.
            stop.set()
            raise

    async def _to_database(self, artifact: int, path: Path) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = seq = 0
        with path.open("rb") as source:
            while True:
                # Read and hash off the event loop; write from it (the store's own way).
                chunks = await asyncio.to_thread(_read_chunks, source, digest, CHUNKS_PER_WRITE)
                if not chunks:
                    break
                await self.store.put_artifact_chunks(artifact, seq, chunks)
                seq += len(chunks)
                size += sum(len(c) for c in chunks)
        return size, digest.hexdigest()

    async def discard(self, step: int, token: str) -> None:
        """Drop what an attempt uploaded but will never keep (its outcome was rejected)."""
        self._remove_files(await self.store.discard_artifacts(step, token))

    # -- download ----------------------------------------------------------------------

    async def read(
        self, artifact: ArtifactRecord, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes ``start`` to ``end`` (exclusive; None: to the end) of a kept artifact, a
        chunk at a time."""
        end = artifact.size if end is None else min(end, artifact.size)
        if start >= end:
            return
        if artifact.stored == "directory":
            async for piece in self._read_file(artifact, start, end):
                yield piece
            return
        seq = start // CHUNK
        offset = start - seq * CHUNK
        at = start
        while at < end:
            data = await self.store.read_artifact_chunk(artifact.id, seq)
            if data is None:
                raise ArtifactRefused(f"artifact {artifact.name!r} is missing chunk {seq}")
            piece = data[offset : offset + (end - at)]
            yield piece
            at += len(piece)
            seq += 1
            offset = 0

    async def _read_file(self, artifact: ArtifactRecord, start: int, end: int) -> AsyncIterator[bytes]:
        if self.directory is None:
            raise ArtifactRefused(
                f"artifact {artifact.name!r} is stored in a directory, and this instance has no --artifacts-dir"
            )
        path = self._file(artifact.run_id, artifact.id)
        try:
            source = await asyncio.to_thread(path.open, "rb")
        except OSError as exc:
            raise ArtifactRefused(f"artifact {artifact.name!r}: cannot read {path}: {exc.strerror}") from exc
        try:
            source.seek(start)
            at = start
            while at < end:
                data = await asyncio.to_thread(source.read, min(CHUNK, end - at))
                if not data:
                    raise ArtifactRefused(f"artifact {artifact.name!r}: {path} is shorter than recorded")
                yield data
                at += len(data)
        finally:
            source.close()

    async def place(self, artifacts: Sequence[ArtifactRecord], folder: Path, prefix: dict[int, str]) -> None:
        """Write ``artifacts`` into ``folder`` by name (under ``prefix[id]/`` where given: an
        item's index), for a step that takes them (``artifacts_from``)."""
        root = await asyncio.to_thread(folder.resolve)
        for artifact in artifacts:
            name = f"{prefix[artifact.id]}/{artifact.name}" if artifact.id in prefix else artifact.name
            target = await asyncio.to_thread(_inside, root, name)
            if target is None:
                raise ArtifactRefused(f"artifact {artifact.name!r} cannot be written into {folder}")
            await self._write(artifact, target)

    async def _write(self, artifact: ArtifactRecord, target: Path) -> None:
        """``artifact`` into a new file that then replaces ``target``: a command that is
        reading a file of that name (an item of a for_each step in the same ``cwd``, whose
        sibling's retry places them again) keeps reading whole bytes, never a truncated file."""
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        sink = await asyncio.to_thread(open, temporary, "xb")
        try:
            with sink:
                async for piece in self.read(artifact):
                    await asyncio.to_thread(sink.write, piece)
            await asyncio.to_thread(os.replace, temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    # -- sweeping ----------------------------------------------------------------------

    async def sweep(self, limit: int = 500) -> int:
        """Delete up to ``limit`` artifacts that will never be kept (superseded, or uploads
        whose claim is over), files first; return how many."""
        unkept = await self.store.unkept_artifacts(limit)
        self._remove_files(unkept)
        await self.store.delete_artifacts([a.id for a in unkept])
        return len(unkept)

    async def sweep_folders(self, batch: int = 500) -> int:
        """Delete the folders of ``--artifacts-dir`` whose run no longer exists (deleted by
        retention, or by hand); return how many."""
        if self.directory is None or not self.directory.is_dir():
            return 0
        removed = 0
        # Only folders named as runs are: the volume may hold other things (lost+found).
        names = await asyncio.to_thread(
            lambda: sorted(e.name for e in os.scandir(self.directory) if e.is_dir() and _run_folder(e.name))
        )
        for first in range(0, len(names), batch):
            for run_id in await self.store.missing_runs(names[first : first + batch]):
                await asyncio.to_thread(shutil.rmtree, self.directory / run_id, True)
                removed += 1
        return removed

    def _remove_files(self, artifacts: Sequence[ArtifactRecord]) -> None:
        for artifact in artifacts:
            if artifact.stored == "directory" and self.directory is not None:
                self._remove_file(artifact.run_id, artifact.id)

    def _remove_file(self, run_id: str, artifact: int) -> None:
        path = self._file(run_id, artifact)
        try:
            path.unlink(missing_ok=True)
            _temporary(path).unlink(missing_ok=True)  # an upload a crash cut short
        except OSError as exc:
            logger.warning("cannot delete artifact file: {}", exc)


def _run_folder(name: str) -> bool:
    """Whether ``name`` is a run id as the folders are named (a uuid in its usual spelling)."""
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


def _inside(root: Path, name: str) -> Path | None:
    """Where artifact ``name`` goes under ``root`` (its folders made), None when it would land
    outside (a bad name, or a link inside ``root`` that leads out)."""
    if name_problem(name) is not None:
        return None
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(root):
        return None
    return target


def _read_chunks(source: BinaryIO, digest: hashlib._Hash, count: int) -> list[bytes]:
    chunks = []
    for _ in range(count):
        data = source.read(CHUNK)
        if not data:
            break
        digest.update(data)
        chunks.append(data)
    return chunks


def _over(value: int, limit: int) -> tuple[str, str]:
    """``value`` and the ``limit`` it passed for people, in bytes when rounding shows them
    alike (1025 bytes is not "1.0 KiB, over the limit of 1.0 KiB")."""
    shown = format_size(value), format_size(limit)
    return shown if shown[0] != shown[1] else (f"{value} B", f"{limit} B")


def _temporary(target: Path) -> Path:
    """Where ``target`` is written before its rename: a name of its own (not a random one),
    so that the sweep deletes what a crash cut short with the row it belongs to."""
    return target.with_name(f".upload-{target.name}")


class _Stopped(Exception):
    """The upload was cancelled while its thread copied."""


def _copy(source: Path, target: Path, stop: threading.Event | None = None) -> tuple[int, str]:
    """Copy ``source`` to ``target`` durably (a temporary name, fsync, rename, fsync of the
    folder); return its size and sha256. ``stop`` set: give up, leaving nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    temporary = _temporary(target)
    with source.open("rb") as reader:
        try:
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as writer:
                while data := reader.read(CHUNK):
                    if stop is not None and stop.is_set():
                        raise _Stopped
                    digest.update(data)
                    writer.write(data)
                    size += len(data)
                writer.flush()
                os.fsync(writer.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return size, digest.hexdigest()

"""The `Store`'s artifact methods, alike on both backends: each is one named query (of
``<dialect>.artifacts.sql``) in a transaction of its own, run through the primitives a
backend gives (`_fetch_text` for reads, `_execute` and `_execute_many` for writes)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, Generic

from executor.store import common
from executor.store.reads import R, SharedReads
from executor.store.records import ArtifactRecord, NewArtifact


class SharedArtifacts(SharedReads[R], Generic[R]):
    @abc.abstractmethod
    async def _execute(self, name: str, params: dict[str, Any]) -> list[R]:
        """Run the named statement in a write transaction of its own; its rows, if any."""

    @abc.abstractmethod
    async def _execute_many(self, name: str, params: Sequence[dict[str, Any]]) -> None:
        """Run the named statement once per parameter set, in one write transaction."""

    async def add_artifact(self, artifact: NewArtifact) -> int:
        params = {**artifact.__dict__, "now": self._now_param()}
        [row] = await self._execute("add_artifact", params)
        return int(row["id"])

    async def put_artifact_chunks(self, artifact: int, first: int, chunks: Sequence[bytes]) -> None:
        await self._execute_many(
            "put_artifact_chunk",
            [{"artifact": artifact, "seq": first + n, "data": data} for n, data in enumerate(chunks)],
        )

    async def finish_artifact(self, artifact: int, size: int, sha256: str) -> bool:
        return bool(await self._execute("finish_artifact", {"id": artifact, "size": size, "sha256": sha256}))

    async def discard_artifacts(self, step: int, token: str) -> list[ArtifactRecord]:
        rows = await self._execute("discard_artifacts", {"step": step, "token": token})
        return [_artifact(row) for row in rows]

    async def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        if not common.is_uuid(run_id):
            return []
        return [_artifact(row) for row in await self._fetch("list_artifacts", {"run_id": run_id})]

    async def get_artifact(
        self, run_id: str, step_id: str, item_index: int, name: str
    ) -> ArtifactRecord | None:
        if not common.is_uuid(run_id):
            return None
        params = {"run_id": run_id, "step_id": step_id, "item_index": item_index, "name": name}
        rows = await self._fetch("get_artifact", params)
        return _artifact(rows[0]) if rows else None

    async def read_artifact_chunk(self, artifact: int, seq: int) -> bytes | None:
        rows = await self._fetch("read_artifact_chunk", {"artifact": artifact, "seq": seq})
        return bytes(rows[0]["data"]) if rows else None

    async def kept_artifact_bytes(self, run_id: str, besides: int | None = None) -> int:
        params = {"run_id": run_id, "besides": -1 if besides is None else besides}
        [row] = await self._fetch("kept_artifact_bytes", params)
        return int(row["size"])

    async def unkept_artifacts(self, limit: int) -> list[ArtifactRecord]:
        return [_artifact(row) for row in await self._fetch("unkept_artifacts", {"limit": limit})]

    async def delete_artifacts(self, ids: Sequence[int]) -> None:
        if ids:
            await self._execute("delete_artifacts", {"ids": self._encode_list(list(ids))})

    async def missing_runs(self, run_ids: Sequence[str]) -> list[str]:
        ids = [run_id for run_id in run_ids if common.is_uuid(run_id)]
        missing = (
            {row["id"] for row in await self._fetch("missing_runs", {"ids": self._encode_list(list(ids))})}
            if ids
            else set()
        )
        # A name that cannot be a run id names no run; ids come back as the caller spelled them.
        return [
            run_id
            for run_id in run_ids
            if run_id not in ids or run_id in missing or run_id.lower() in missing
        ]


def _artifact(row: common.Row) -> ArtifactRecord:
    return ArtifactRecord(
        id=int(row["id"]),
        run_id=str(row["run_id"]),
        step=int(row["step"]),
        step_id=row["step_id"],
        item_index=int(row["item_index"]),
        attempt=int(row["attempt"]),
        name=row["name"],
        size=int(row["size"]),
        sha256=row["sha256"],
        media_type=row["media_type"],
        stored=row["stored"],
        state=row["state"],
        created_at=float(row["created_at"]),
    )

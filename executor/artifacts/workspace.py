"""An attempt's scratch space for artifacts: the empty directory its command writes to
(``EXECUTOR_ARTIFACTS_DIR``) and, for ``artifacts_from``, the working directory that holds
the earlier steps' artifacts. Both live under one temporary folder removed when the attempt
ends, whatever its outcome."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from executor.artifacts import scratch
from executor.artifacts.storage import Artifacts
from executor.errors import ArtifactRefused
from executor.store.records import ArtifactRecord


@dataclass(frozen=True)
class Workspace:
    out: Path  # EXECUTOR_ARTIFACTS_DIR
    params: dict[str, Any]  # the step's `with`, with `cwd` set when artifacts_from needed one


@asynccontextmanager
async def workspace(artifacts: Artifacts, run_id: str, params: dict[str, Any]) -> AsyncIterator[Workspace]:
    parent = await asyncio.to_thread(scratch.folder)  # cleaned up after a kill -9 too
    root = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="executor-attempt-", dir=parent))
    try:
        out = root / "artifacts"
        out.mkdir()
        sources = params.get("artifacts_from") or []
        if sources:
            given = params.get("cwd")
            # Without a `cwd`, a fresh one: the artifacts must not land in the service's own.
            cwd = Path(str(given)) if given else root / "work"
            await asyncio.to_thread(cwd.mkdir, parents=True, exist_ok=True)
            await _take(artifacts, run_id, [str(s) for s in sources], cwd)
            if not given:
                params = {**params, "cwd": str(cwd)}
        yield Workspace(out, params)
    finally:
        await asyncio.to_thread(shutil.rmtree, root, True)


async def _take(artifacts: Artifacts, run_id: str, sources: Sequence[str], folder: Path) -> None:
    """The kept artifacts of ``sources`` into ``folder`` by name; a for_each step's under
    the item's index (``0/report.json``). Two of one name is an error, never an overwrite."""
    chosen: list[ArtifactRecord] = []
    prefix: dict[int, str] = {}
    names: dict[str, str] = {}
    for artifact in await artifacts.store.list_artifacts(run_id):
        if artifact.step_id not in sources:
            continue
        name = artifact.name
        if artifact.item_index >= 0:
            prefix[artifact.id] = str(artifact.item_index)
            name = f"{artifact.item_index}/{name}"
        if name in names:
            raise ArtifactRefused(
                f"artifacts_from: steps {names[name]} and {artifact.step_id} both have an artifact {name!r}"
            )
        names[name] = artifact.step_id
        chosen.append(artifact)
    await artifacts.place(chosen, folder, prefix)

"""Registering the workflows of a folder (``--workflows DIR``): every ``*.yaml``/``*.yml``.

A file whose definition changed becomes a new version; an unchanged one registers nothing;
an invalid one is reported, with every problem, and skipped.
"""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from executor.engine.core import Engine
from executor.errors import WorkflowInvalid
from executor.workflow import parse_workflow


def workflow_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


async def register_folder(engine: Engine, folder: Path) -> tuple[int, list[WorkflowInvalid]]:
    """Register the folder's workflows; return how many are new versions, and the failures."""
    created, invalid = 0, []
    for path in workflow_files(folder):
        source = path.read_text(encoding="utf-8")
        try:
            workflow = parse_workflow(source, str(path))
        except WorkflowInvalid as exc:
            invalid.append(exc)
            for problem in exc.problems:
                logger.bind(file=str(path)).error("invalid workflow not loaded: {}", problem)
            continue
        _, new = await engine.register(workflow, source)
        created += new
    return created, invalid

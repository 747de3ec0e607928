"""Registering the workflows of a folder (``--workflows DIR``): every ``*.yaml``/``*.yml``.

A file whose definition changed becomes a new version; an unchanged one registers nothing;
an invalid one is reported, with every problem, and skipped. A valid one that is risky
(`executor.workflow.lint`: an outside value pasted into a shell script) is registered, and
each warning logged with its file and line.
"""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from executor.engine.core import Engine
from executor.errors import WorkflowInvalid
from executor.workflow import lint, parse_workflow


def workflow_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


async def register_folder(engine: Engine, folder: Path) -> tuple[int, list[WorkflowInvalid]]:
    """Register the folder's workflows; return how many are new versions, and the failures."""
    files = workflow_files(folder)
    logger.bind(folder=str(folder)).info("registering the workflows of {} ({} files)", folder, len(files))
    created, invalid = 0, []
    for path in files:
        source = path.read_text(encoding="utf-8")
        try:
            workflow = parse_workflow(source, str(path))
        except WorkflowInvalid as exc:
            invalid.append(exc)
            for problem in exc.problems:
                logger.bind(file=str(path)).error("invalid workflow not loaded: {}", problem)
            continue
        for warning in lint(workflow, source=source, filename=str(path)):
            logger.bind(file=str(path), line=warning.line, path=warning.path).warning(
                "workflow {}: {}", workflow.name, warning
            )
        _, new = await engine.register(workflow, source)
        created += new
    return created, invalid

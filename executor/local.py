"""`executor run`: one workflow, run to completion in this process, with live progress.

The same engine as the service, on a temporary SQLite database unless ``--database`` names
one, without the HTTP server. Progress goes to stderr, the run's outputs (JSON) to stdout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

from executor import migrate
from executor.durations import format_duration
from executor.engine import Engine
from executor.engine.events import Event, RetryEvent, RunEvent, StepEvent
from executor.lifecycle import EXIT_INTERRUPTED, Interrupted, Lifecycle
from executor.runtime import Runtime
from executor.settings import Settings
from executor.signals import handle_stop_signals
from executor.statuses import RUN_FINAL, STEP_MARKS, RunStatus, StepStatus, in_line
from executor.store.records import Origin, RunRecord
from executor.store.url import DatabaseURL
from executor.workflow import Workflow, lint, parse_workflow
from executor.workflow.lint import as_line


class Progress:
    """Prints one line per step change of the run (and of its child runs) to ``out``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started: dict[tuple[str, str, int], float] = {}
        self.names: dict[str, str] = {}
        self.top: str | None = None  # the run `executor run` started (the others are children)
        # Lines held until `release`, after the line naming the run: steps that run in process
        # (`engine.inline`) end in the transaction that submits it, before it is named.
        self._held: list[str] | None = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunEvent):
            # The first run created is the one `executor run` started; children come later.
            self.top = self.top or event.run_id
            self.names.setdefault(event.run_id, event.workflow)
            if event.waiting_for is not None:  # a run label: its workflow's name
                line = event.waiting_for
                self._line(
                    STEP_MARKS[StepStatus.WAITING],
                    event.workflow,
                    in_line(line.kind, line.key, line.position),
                )
            return
        if not isinstance(event, StepEvent | RetryEvent):  # attempt events are for metrics
            return
        label = event.step_id if event.item < 0 else f"{event.step_id}[{event.item}]"
        if event.run_id != self.top:
            label = f"{self.names.get(event.run_id, 'child')}/{label}"
        if isinstance(event, RetryEvent):
            self._line(
                "↻",
                label,
                f"attempt {event.attempt} failed, retry in {format_duration(event.delay)}: {event.error}",
            )
            return
        self._step(label, event)

    def _step(self, label: str, event: StepEvent) -> None:
        status = event.status
        key = (event.run_id, event.step_id, event.item)
        if status in (StepStatus.QUEUED, StepStatus.PENDING):
            return
        if status == StepStatus.RUNNING:
            # A durable step resumed after waiting keeps the time it first started.
            self.started.setdefault(key, time.monotonic())
            self._line(STEP_MARKS[status], label, f"attempt {event.attempt}" if event.attempt > 1 else "")
            return
        if status == StepStatus.WAITING:
            line = event.waiting_for
            detail = "waiting" if line is None else in_line(line.kind, line.key, line.position)
            self._line(STEP_MARKS[status], label, detail)
            return
        now = time.monotonic()
        took = now - self.started.pop(key, now)
        if status == StepStatus.SUCCEEDED:
            self._line(STEP_MARKS[status], label, f"{took:.1f}s")
        else:
            self._line(STEP_MARKS[status], label, f"{status} {event.error or ''}".strip())

    def _line(self, mark: str, label: str, detail: str) -> None:
        line = f"{mark} {label:<24} {detail}".rstrip() + "\n"
        if self._held is not None:
            self._held.append(line)
            return
        self.out.write(line)
        self.out.flush()

    def release(self) -> None:
        """Print the lines held so far, and the next ones as they come."""
        held, self._held = self._held or [], None
        self.out.write("".join(held))
        self.out.flush()


def parse_inputs(input_json: str | None, pairs: list[str]) -> dict[str, Any]:
    """``--input '{...}'`` then ``-i key=value`` on top (a value is JSON when it parses as JSON)."""
    value: dict[str, Any] = {}
    if input_json:
        try:
            parsed = json.loads(input_json)
        except ValueError as exc:
            raise ValueError(f"--input is not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError("--input must be a JSON object")
        value = parsed
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"-i {pair!r}: expected key=value")
        try:
            value[key] = json.loads(raw)
        except ValueError:
            value[key] = raw
    return value


async def run_workflow(
    path: Path,
    source: str,
    run_input: dict[str, Any],
    settings: Settings,
    progress: TextIO = sys.stderr,
    save_artifacts: Path | None = None,
) -> tuple[int, Any]:
    """Migrate, then run the workflow (``source``, read from ``path``) to its end; return the
    exit code and what to print. SIGTERM/SIGINT are obeyed from the start: before the run
    exists they stop at once (`Interrupted`), then they drain."""
    workflow = parse_workflow(source, str(path))
    for warning in lint(workflow, source=source, filename=str(path)):
        progress.write(as_line(warning) + "\n")
    lifecycle = Lifecycle()
    with handle_stop_signals(lifecycle):
        try:
            final = await _run(workflow, source, run_input, settings, lifecycle, progress, save_artifacts)
        except Interrupted as exc:
            progress.write(f"interrupted while {exc.phase}: no run was started\n")
            raise
    if final.status == RunStatus.SUCCEEDED:
        return 0, final.outputs
    if final.status in RUN_FINAL:  # with the outputs a failed run could still render
        partial = {"outputs": final.outputs} if final.outputs is not None else {}
        return 1, {"status": final.status, "error": final.error, **partial}
    progress.write(
        f"interrupted: run {final.id} is {final.status}; it continues when executor runs on this database\n"
    )
    return EXIT_INTERRUPTED, {"status": final.status, "run": final.id}


async def _run(
    workflow: Workflow,
    source: str,
    run_input: dict[str, Any],
    settings: Settings,
    lifecycle: Lifecycle,
    progress: TextIO,
    save_artifacts: Path | None = None,
) -> RunRecord:
    """The run, once over: final, or not when a signal interrupted it."""
    database = settings.database
    await migrate.in_thread(lifecycle, "migrating", lambda stop: migrate.apply(database, stop=stop))
    phase = "opening the database"
    if settings.workflows is not None:
        phase += f" and registering the workflows of {settings.workflows}"
    async with AsyncExitStack() as stack:
        runtime = await lifecycle.unless_stopped(
            phase, lambda: stack.enter_async_context(Runtime.open(settings, lifecycle))
        )
        if lifecycle.stop_requested.is_set():  # asked as the opening ended: start no run
            raise Interrupted(lifecycle.phase)
        engine = runtime.engine
        watcher = Progress(progress)
        finished = asyncio.Event()
        engine.listeners.append(watcher)

        def on_event(event: Event) -> None:
            if isinstance(event, RunEvent) and event.run_id == watcher.top and event.status in RUN_FINAL:
                finished.set()

        engine.listeners.append(on_event)
        # Not cancelled by a signal: once submitted, the run exists and is reported as such.
        await engine.register(workflow, source)
        run, _ = await engine.submit(workflow.name, run_input, origin=Origin(trigger="cli"))
        progress.write(f"run {run.id} of {workflow.name} (version {run.workflow_version})\n")
        watcher.release()
        async with runtime.working():
            if (await engine.get(run.id))[0].status not in RUN_FINAL:
                await _first(lifecycle.stop_requested.wait(), finished.wait())
            await runtime.drain()
        final, _ = await engine.get(run.id)
        if save_artifacts is not None:
            await _save_artifacts(engine, final.id, save_artifacts, progress)
    return final


async def _save_artifacts(engine: Engine, run_id: str, folder: Path, progress: TextIO) -> None:
    """The run's artifacts into ``folder``/<step>/[<item>/]<name>, before its database (a
    temporary one, by default) goes."""
    listed = await engine.list_artifacts(run_id)
    prefix = {a.id: a.step_id if a.item_index < 0 else f"{a.step_id}/{a.item_index}" for a in listed}
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    await engine.artifacts.place(listed, folder, prefix)
    total = sum(a.size for a in listed)
    progress.write(f"{len(listed)} artifact(s), {total} bytes, saved in {folder}\n")


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def run(
    path: Path,
    run_input: dict[str, Any],
    settings: Settings,
    *,
    keep: bool,
    save_artifacts: Path | None = None,
) -> tuple[int, Any]:
    """`executor run`: migrate, run, report. Without ``keep``, on a temporary SQLite
    database removed afterwards (``settings.database`` is then ignored). Raises
    `Interrupted` when a signal stopped it before the run was started."""
    with tempfile.TemporaryDirectory(prefix="executor-run-") as tmp:
        if not keep:
            url = DatabaseURL(f"sqlite:///{Path(tmp) / 'executor.db'}", "sqlite")
            settings = dataclasses.replace(settings, database=url)
        source = path.read_text(encoding="utf-8")
        return asyncio.run(run_workflow(path, source, run_input, settings, save_artifacts=save_artifacts))

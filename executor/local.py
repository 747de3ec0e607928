"""`executor run`: one workflow, run to completion in this process, with live progress.

The same engine as the service, on a temporary SQLite database unless ``--database`` names
one, without the HTTP server. Progress goes to stderr, the run's outputs (JSON) to stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from executor import __version__, migrate
from executor.actions.http import close_client
from executor.durations import format_duration
from executor.engine.catalog import register_folder
from executor.engine.engine import Engine, Event
from executor.lifecycle import Lifecycle
from executor.signals import handle_stop_signals
from executor.store import Instance, create_store
from executor.store.records import RUN_FINAL
from executor.store.url import DatabaseURL
from executor.workflow import parse_workflow

EXIT_INTERRUPTED = 130

_MARKS = {
    "running": "▶",
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "-",
    "cancelled": "⊘",
    "waiting": "⏸",
    "queued": "·",
}


class Progress:
    """Prints one line per step change of the run (and of its child runs) to ``out``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started: dict[tuple[str, str, int], float] = {}
        self.names: dict[str, str] = {}
        self.top: str | None = None

    def __call__(self, event: Event) -> None:
        kind, run_id, subject, data = event
        if kind == "run":
            # The first run created is the one `executor run` started; children come later.
            self.top = self.top or run_id
            self.names.setdefault(run_id, subject)
            return
        label = subject if data.get("item", -1) < 0 else f"{subject}[{data['item']}]"
        if run_id != self.top:
            label = f"{self.names.get(run_id, 'child')}/{label}"
        key = (run_id, subject, data.get("item", -1))
        if kind == "retry":
            self._line(
                "↻",
                label,
                f"attempt {data['attempt']} failed, retry in {format_duration(data['delay'])}: {data['error']}",
            )
            return
        status = data["status"]
        if status == "queued" or status == "pending":
            return
        if status == "running":
            # A durable step resumed after waiting keeps the time it first started.
            self.started.setdefault(key, time.monotonic())
            self._line(
                _MARKS[status], label, f"attempt {data['attempt']}" if data.get("attempt", 1) > 1 else ""
            )
            return
        if status == "waiting":
            self._line(_MARKS[status], label, "waiting")
            return
        now = time.monotonic()
        took = now - self.started.pop(key, now)
        detail = f"{took:.1f}s" if status == "succeeded" else (data.get("error") or "")
        self._line(
            _MARKS.get(status, "?"), label, f"{status} {detail}".strip() if status != "succeeded" else detail
        )

    def _line(self, mark: str, label: str, detail: str) -> None:
        self.out.write(f"{mark} {label:<24} {detail}".rstrip() + "\n")
        self.out.flush()


def parse_inputs(input_json: str | None, pairs: list[str]) -> dict[str, Any]:
    """``--input '{...}'`` then ``-i key=value`` on top (a value is JSON when it parses as JSON)."""
    value: Any = {}
    if input_json:
        try:
            value = json.loads(input_json)
        except ValueError as exc:
            raise ValueError(f"--input is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError("--input must be a JSON object")
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
    database: DatabaseURL,
    *,
    workflows: Path | None,
    concurrency: int,
    stop_timeout: float,
    lease: float,
    progress: TextIO = sys.stderr,
) -> tuple[int, Any]:
    """Run the workflow (``source``, read from ``path``) to its end; return the exit code
    and what to print."""
    workflow = parse_workflow(source, str(path))
    store = create_store(database)
    await store.open()
    instance = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    engine = Engine(store, instance_id=instance, concurrency=concurrency, poll_interval=1.0, lease=lease)
    lifecycle = Lifecycle()
    try:
        await store.register_instance(
            Instance(instance, socket.gethostname(), os.getpid(), __version__, "running")
        )
        await engine.recover_dead_local()
        if workflows is not None:
            await register_folder(engine, workflows)
        await engine.register(workflow, source)
        watcher = Progress(progress)
        finished = asyncio.Event()
        engine.listeners.append(watcher)

        def on_event(event: Event) -> None:
            kind, run_id, _, data = event
            if kind == "run" and run_id == watcher.top and data["status"] in RUN_FINAL:
                finished.set()

        engine.listeners.append(on_event)
        run, _ = await engine.submit(workflow.name, run_input)
        progress.write(f"run {run.id} of {workflow.name} (version {run.workflow_version})\n")
        with handle_stop_signals(lifecycle):
            async with asyncio.TaskGroup() as group:
                claims = group.create_task(engine.loop.run())
                upkeep = group.create_task(engine.maintain())
                stop = group.create_task(lifecycle.stop_requested.wait())
                done = group.create_task(finished.wait())
                if (await engine.get(run.id))[0].status in RUN_FINAL:
                    finished.set()
                await asyncio.wait({stop, done}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                done.cancel()
                await engine.loop.drain(stop_timeout, abort=lifecycle.abort_requested)
                await claims
                upkeep.cancel()
        final, _ = await engine.get(run.id)
        await store.heartbeat(instance, "stopped")
    finally:
        await close_client()
        await store.close()
    if final.status == "succeeded":
        return 0, final.outputs
    if final.status in RUN_FINAL:
        return 1, {"status": final.status, "error": final.error}
    progress.write(
        f"interrupted: run {final.id} is {final.status}; it continues when executor runs on this database\n"
    )
    return EXIT_INTERRUPTED, {"status": final.status, "run": final.id}


def run(
    path: Path,
    run_input: dict[str, Any],
    database: DatabaseURL | None,
    *,
    workflows: Path | None,
    concurrency: int,
    stop_timeout: float,
    lease: float,
) -> tuple[int, Any]:
    with tempfile.TemporaryDirectory(prefix="executor-run-") as tmp:
        url = database or DatabaseURL(f"sqlite:///{Path(tmp) / 'executor.db'}", "sqlite")
        migrate.apply(url)
        return asyncio.run(
            run_workflow(
                path, path.read_text(encoding="utf-8"), run_input, url, workflows=workflows, concurrency=concurrency,
                stop_timeout=stop_timeout, lease=lease,
            )
        )  # fmt: skip

"""Watching a run from afar: `runs start --wait` and `--follow`.

The API has no stream of a run's changes, so the run is read again and again (every 0.2 s,
slowing to every second), and each step that changed is printed on one line, as
`executor run` prints them. ``follow`` also streams each step's log lines (the API's
Server-Sent Events, one stream per step that started, a few at a time) as they are written.
Everything goes to stderr: stdout is kept for the result.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from executor.remote.client import Client, RemoteError, UnexpectedAnswer, Unreachable, path, what_was_wrong
from executor.remote.output import took
from executor.statuses import RUN_FINAL, STEP_FINAL, STEP_MARKS, StepStatus, in_line

FIRST_POLL = 0.2  # seconds between two reads of the run at first
LAST_POLL = 1.0  # ... growing to this while it runs
MAX_STREAMS = 8  # log streams open at once (a wide for_each waits for free ones)
RECONNECTS = 5  # a broken log stream is opened again this many times, from the last line seen
FOLLOW_GRACE = 10.0  # seconds the log streams get to end once the run has ended
STEP_GRACE = 2.0  # seconds a step's open stream gets to end before its final line is printed


def rows(run: dict[str, Any]) -> Iterator[tuple[str, int, str, dict[str, Any]]]:
    """Every step and for_each item of ``run``: (step, item or -1, label, row)."""
    for step in run.get("steps") or ():
        yield step["id"], -1, step["id"], step
        for item in step.get("items") or ():
            yield step["id"], item["index"], f"{step['id']}[{item['index']}]", item


def follow_logs(client: Client, run_id: str, step: str, item: int = -1) -> Iterator[dict[str, Any]]:
    """A step's log lines, as they are written, until the step ends. A stream that broke
    after it opened (the instance serving it went away) is opened again, from the last line
    seen, a few times; a server that cannot be reached at all fails at once."""
    after, tries, opened = 0, 0, False
    url = path("runs", run_id, "steps", step, "logs")
    while True:
        try:
            for event in client.events(
                url, follow=True, item=item if item >= 0 else None, after=after or None
            ):
                if event.event == "open":
                    opened = True
                elif event.event == "line":
                    line = _log_line(client, url, event.data)
                    after, tries = line["id"], 0
                    yield line
                elif event.event == "end":
                    return
            reason = "the log stream ended before the step did"
        except Unreachable as exc:
            if not opened:
                raise
            reason = exc.reason
        tries += 1
        if tries > RECONNECTS:
            raise Unreachable(client.server, reason)
        time.sleep(0.2 * 2**tries)


def _waiting(waiting: Any) -> str:
    """What a waiting step or run waits for, from the API's ``waiting_for`` (a key's line)."""
    if not isinstance(waiting, dict) or not waiting.get("key"):
        return "waiting"
    position = waiting.get("position")
    return in_line(
        str(waiting.get("kind")), str(waiting["key"]), position if isinstance(position, int) else None
    )


def _log_line(client: Client, url: str, data: str) -> dict[str, Any]:
    """A ``line`` event's log line: an object with an integer ``id`` and a string ``line``."""
    try:
        line = json.loads(data)
        valid = isinstance(line["id"], int) and isinstance(line["line"], str)
    except (ValueError, RecursionError, KeyError, TypeError):
        valid = False
    if not valid:
        raise UnexpectedAnswer(client.server, f"GET {url}", f"a log line event is {data[:80]!r}")
    return dict(line)


class Watch:
    """Reads a run until it ends, printing each step's changes (and with ``follow`` its
    log lines) to ``out``."""

    def __init__(self, client: Client, run_id: str, follow: bool = False, out: TextIO = sys.stderr) -> None:
        self.client = client
        self.run_id = run_id
        self.follow = follow
        self.out = out
        self.lock = threading.Lock()
        self.seen: dict[str, tuple[str, int]] = {}
        self.streams: dict[tuple[str, int], threading.Thread] = {}
        self.streaming: set[tuple[str, int]] = set()  # the streams open now (not waiting for a slot)
        self.slots = threading.BoundedSemaphore(MAX_STREAMS)
        self.stopping = threading.Event()
        self.run_line: str | None = None  # the key the run was last seen waiting for

    def until_final(self) -> dict[str, Any]:
        """The run once it has ended (with its steps)."""
        interval = FIRST_POLL
        try:
            while True:
                run = self.client.get(path("runs", self.run_id))
                self._run_waits(run)
                self._changes(run)
                if run["status"] in RUN_FINAL:
                    self._streams_end()
                    return dict(run)
                time.sleep(interval)
                interval = min(interval * 1.5, LAST_POLL)
        finally:
            self.stopping.set()
            # A log line being written finishes before the caller goes on (and, on Ctrl-C,
            # exits: a daemon thread still writing to stderr then would crash the interpreter).
            if self.lock.acquire(timeout=1):
                self.lock.release()

    def _run_waits(self, run: dict[str, Any]) -> None:
        """A line when the run starts waiting for its concurrency key (labelled with its workflow)."""
        waiting = run.get("waiting_for")
        key = waiting.get("key") if isinstance(waiting, dict) else None
        if key is not None and key != self.run_line:
            self.line(STEP_MARKS[StepStatus.WAITING], str(run.get("workflow", "run")), _waiting(waiting))
        self.run_line = key

    def _changes(self, run: dict[str, Any]) -> None:
        for step, item, label, row in rows(run):
            state = (row["status"], row.get("attempts") or 0)
            before = self.seen.get(label)
            self.seen[label] = state
            changed, final = state != before, row["status"] in STEP_FINAL
            if changed and not final:
                self._step_line(label, row, before)
            if self.follow and row.get("started_at") and (step, item) not in self.streams:
                self._stream(step, item, label)
            if changed and final:
                # Its last log lines first: its stream ends a moment after the step does. (A
                # stream still waiting for a slot prints them later.)
                if (step, item) in self.streaming:
                    self.streams[(step, item)].join(STEP_GRACE)
                self._step_line(label, row, before)

    def _step_line(self, label: str, row: dict[str, Any], before: tuple[str, int] | None) -> None:
        status, attempts = row["status"], row.get("attempts") or 0
        history = row.get("history") or []
        if before is not None and attempts > before[1] and history and history[-1].get("outcome") == "failed":
            # Missed in between, or seen now: an attempt failed and another one is queued or running.
            self.line("↻", label, f"attempt {history[-1]['attempt']} failed: {history[-1].get('error', '')}")
        if status in (StepStatus.QUEUED, StepStatus.PENDING):
            return
        if status == StepStatus.RUNNING:
            self.line(STEP_MARKS[StepStatus.RUNNING], label, f"attempt {attempts}" if attempts > 1 else "")
        elif status == StepStatus.WAITING:
            self.line(STEP_MARKS[StepStatus.WAITING], label, _waiting(row.get("waiting_for")))
        elif status == StepStatus.SUCCEEDED:
            self.line(
                STEP_MARKS[StepStatus.SUCCEEDED], label, took(row.get("started_at"), row.get("finished_at"))
            )
        elif status in STEP_MARKS:
            self.line(STEP_MARKS[StepStatus(status)], label, f"{status} {row.get('error') or ''}".strip())

    def line(self, mark: str, label: str, detail: str) -> None:
        with self.lock:
            self.out.write(f"{mark} {label:<24} {detail}".rstrip() + "\n")
            self.out.flush()

    def _stream(self, step: str, item: int, label: str) -> None:
        thread = threading.Thread(
            target=self._print_logs, args=(step, item, label), name=f"logs {label}", daemon=True
        )
        self.streams[(step, item)] = thread
        thread.start()

    def _print_logs(self, step: str, item: int, label: str) -> None:
        with self.slots:
            with self.lock:
                self.streaming.add((step, item))
            try:
                for line in follow_logs(self.client, self.run_id, step, item):
                    with self.lock:
                        if self.stopping.is_set():  # Ctrl-C: the main thread is on its way out
                            return
                        self.out.write(f"{label} | {line['line']}\n")
                        self.out.flush()
            except Exception as exc:  # a thread's error would be a traceback: one line instead
                if not self.stopping.is_set():  # else the client was closed under it (Ctrl-C)
                    why = exc.message if isinstance(exc, RemoteError) else what_was_wrong(exc)
                    self.line("!", label, f"log stream lost: {why}")

    def _streams_end(self) -> None:
        deadline = time.monotonic() + FOLLOW_GRACE
        for thread in self.streams.values():
            thread.join(max(deadline - time.monotonic(), 0))

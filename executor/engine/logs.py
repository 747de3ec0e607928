"""Step log lines, buffered so that a chatty command costs a commit per batch, not per line."""

from __future__ import annotations

import asyncio
import contextlib
import time

from loguru import logger

from executor.errors import ExecutorError
from executor.store import Store
from executor.store.records import LogLine
from executor.workflow import Masker

FLUSH_LINES = 500
FLUSH_SECONDS = 0.2


class LogBuffer:
    def __init__(self, store: Store, step: int, attempt: int, masker: Masker) -> None:
        self.store = store
        self.step = step
        self.attempt = attempt
        self.masker = masker
        self._lines: list[LogLine] = []
        self._flusher: asyncio.Task[None] | None = None

    def write(self, stream: str, line: str) -> None:
        self._lines.append(LogLine(self.step, self.attempt, stream, self.masker.mask(line), time.time()))
        if len(self._lines) >= FLUSH_LINES:
            self._schedule(0)
        elif self._flusher is None:
            self._schedule(FLUSH_SECONDS)

    def _schedule(self, delay: float) -> None:
        if self._flusher is not None and not self._flusher.done():
            if delay > 0:
                return
            self._flusher.cancel()
        self._flusher = asyncio.get_running_loop().create_task(self._flush_later(delay))

    async def _flush_later(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        self._flusher = None
        await self.flush()

    async def flush(self) -> None:
        lines, self._lines = self._lines, []
        if not lines:
            return
        try:
            await self.store.append_logs(lines)
        except ExecutorError as exc:
            logger.bind(row=self.step).warning("lost {} log line(s) of a step: {}", len(lines), exc.message)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await asyncio.shield(self.flush())

"""The calls to models an attempt makes (`llm`), accounted for: each is told to the engine's
listeners as it is made (metrics count it on the instance that made it), and the attempt's
calls are recorded in a short transaction of their own as soon as it ends, before its
outcome: they were paid for whatever becomes of it (an outcome rejected because the lease
was lost, a failure, a cancel)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from loguru import logger

from executor.actions.context import LlmCall
from executor.engine.events import Event, LlmCallEvent
from executor.errors import ExecutorError
from executor.store import Store
from executor.store.records import Claimed, NewLlmCall
from executor.workflow import Masker

# Recordings left to finish on their own (their attempt's task was cancelled first).
_recording: set[asyncio.Task[None]] = set()


class AttemptCalls:
    def __init__(
        self, claimed: Claimed, masker: Masker, listeners: Sequence[Callable[[Event], None]]
    ) -> None:
        self.claimed = claimed
        self.masker = masker
        self.listeners = listeners
        self.pending: list[NewLlmCall] = []

    def report(self, call: LlmCall) -> None:
        """`Attempt.report_llm`: keep the call for `record`, and tell the listeners now."""
        row = self.claimed.row
        error = None if call.error is None else str(self.masker.mask(call.error))
        self.pending.append(
            NewLlmCall(
                run_id=row.run_id,
                step_id=row.step_id,
                item_index=row.item_index,
                attempt=row.attempt,
                model=call.model,
                input_tokens=call.input_tokens,
                output_tokens=call.output_tokens,
                cached_tokens=call.cached_tokens,
                reasoning_tokens=call.reasoning_tokens,
                cost_usd=call.cost_usd,
                seconds=call.seconds,
                error=error,
            )
        )
        event = LlmCallEvent(
            row.run_id,
            row.step_id,
            call.model,
            call.input_tokens,
            call.output_tokens,
            call.cached_tokens,
            call.reasoning_tokens,
            call.cost_usd,
        )
        for listener in self.listeners:
            listener(event)

    async def record(self, store: Store, patience: float) -> None:
        """Record the calls kept so far. While the database is away, try again for up to
        ``patience`` seconds; then give up on them, saying so (the attempt goes on)."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        log = logger.bind(run_id=self.claimed.row.run_id, step=self.claimed.row.step_id)
        deadline = time.monotonic() + patience
        delay = 0.2
        while True:
            try:
                await store.record_llm_calls(batch)
                return
            except ExecutorError as exc:
                if time.monotonic() > deadline:
                    log.error("{} call(s) to models not recorded: {}", len(batch), exc.message)
                    return
                log.warning("cannot record the calls to models yet: {}", exc.message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:  # a row the store cannot take must not lose the attempt's outcome
                log.exception("{} call(s) to models not recorded", len(batch))
                return

    def record_soon(self, store: Store, patience: float) -> None:
        """`record` in a task of its own (the attempt's was cancelled), if any call is left."""
        if not self.pending:
            return
        task = asyncio.create_task(self.record(store, patience))
        _recording.add(task)
        task.add_done_callback(_recording.discard)

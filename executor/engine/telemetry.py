"""The engine's metrics and traces: a listener that turns its events into `executor.metrics`
(and emits the span of a run that ended), and the spans of attempts (`executor.tracing`).

The listener runs after every commit, on the engine's path: it only counts, and reads
nothing. An attempt's span needs its run's trace context, which another instance may have
received: it is kept from the run's events, else read once per run (only with tracing on).
"""

from __future__ import annotations

from collections import OrderedDict

from loguru import logger

from executor import metrics, tracing
from executor.engine.events import AttemptEvent, Event, LlmCallEvent, RunEvent, StepEvent
from executor.errors import ExecutorError
from executor.statuses import RUN_FINAL
from executor.store import Store
from executor.store.records import Claimed

KNOWN_RUNS = 10_000  # trace contexts of unfinished runs kept (least recently used go first)


class Telemetry:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._traceparents: OrderedDict[str, str | None] = OrderedDict()

    def __call__(self, event: Event) -> None:
        # The most frequent first: several step events per step, one attempt event.
        if isinstance(event, StepEvent):
            if event.waited is not None:
                metrics.step_claimed(event.waited)
        elif isinstance(event, AttemptEvent):
            metrics.step_attempt(event.action, event.outcome, event.seconds)
            if event.outcome == "lost":
                metrics.lease_lost()
        elif isinstance(event, RunEvent):
            self._run(event)
        elif isinstance(event, LlmCallEvent):
            metrics.llm_call(
                event.model,
                event.input_tokens,
                event.output_tokens,
                event.cached_tokens,
                event.reasoning_tokens,
                event.cost_usd,
            )

    def _run(self, event: RunEvent) -> None:
        if event.created:
            metrics.run_started(event.workflow, event.trigger)
        final = event.status in RUN_FINAL
        if final:
            seconds = None
            if event.created_at is not None and event.finished_at is not None:
                seconds = event.finished_at - event.created_at
            metrics.run_finished(event.workflow, event.status, seconds)
        if not tracing.enabled():
            return
        if not final:
            self._remember(event.run_id, event.traceparent)
            return
        self._traceparents.pop(event.run_id, None)
        if event.created_at is not None and event.finished_at is not None:
            tracing.end_run(
                event.run_id,
                event.traceparent,
                workflow=event.workflow,
                trigger=event.trigger,
                status=event.status,
                start=event.created_at,
                end=event.finished_at,
                error=event.error,
            )

    def _remember(self, run_id: str, traceparent: str | None) -> None:
        self._traceparents[run_id] = traceparent
        self._traceparents.move_to_end(run_id)
        while len(self._traceparents) > KNOWN_RUNS:
            self._traceparents.popitem(last=False)

    async def start_attempt(self, claimed: Claimed, action: str) -> tracing.AttemptSpan | None:
        """The span of the attempt about to run (None with tracing off); while it runs,
        `tracing.current_traceparent` is its context."""
        if not tracing.enabled():
            return None
        row = claimed.row
        return tracing.start_attempt(
            row.run_id,
            await self._traceparent(row.run_id),
            step=row.step_id,
            item=row.item_index,
            attempt=row.attempt,
            action=action,
            workflow=claimed.workflow_name,
        )

    async def _traceparent(self, run_id: str) -> str | None:
        if run_id in self._traceparents:
            self._traceparents.move_to_end(run_id)
            return self._traceparents[run_id]
        try:
            traceparent = await self.store.run_traceparent(run_id)
        except ExecutorError as exc:
            # The attempt runs all the same; its span may land in a trace of its own.
            logger.bind(run_id=run_id).debug("cannot read the run's trace context: {}", exc.message)
            return None
        self._remember(run_id, traceparent)
        return traceparent

"""OpenTelemetry traces: a span per run and one per attempt, exported over OTLP/HTTP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set. Without
it nothing of OpenTelemetry is imported, and every call here is a cheap no-op.

A run outlives the process that started it: another instance may continue it after a crash,
and the instance that ends it emits its span. So the run's ids are derived, never drawn:

* trace id: the one of the W3C ``traceparent`` sent with ``POST /runs`` (stored with the
  run), else the run's UUID (128 random bits already);
* the run span's id: the first 8 bytes of a hash of the run id; its parent, the span of the
  ``traceparent``, if any;
* the run span is emitted once the run ends, with its creation and end times.

An attempt's span is a child of its run's span, emitted by the instance that ran it. While it
runs, `current_traceparent` is its context: `http` steps send it as ``traceparent`` and
shell steps get it as ``TRACEPARENT``.

The rest of OpenTelemetry's configuration comes from its own variables (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_SCHEDULE_DELAY``, ...).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from executor import __version__

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
SHUTDOWN_TIMEOUT = 5.0  # seconds to flush the spans still queued when the service stops

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_SAMPLED = 0x01

# The context of the attempt running in this task (None when tracing is off).
_current: ContextVar[str | None] = ContextVar("executor_traceparent", default=None)


# -- W3C trace context and the derived ids (no OpenTelemetry needed) ------------------------


@dataclass(frozen=True)
class TraceParent:
    trace_id: int
    span_id: int
    sampled: bool

    def __str__(self) -> str:
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{_SAMPLED if self.sampled else 0:02x}"


def parse_traceparent(text: str | None) -> TraceParent | None:
    """A ``traceparent`` header's value, or None when it is absent or not valid (W3C Trace
    Context: version ff, or an all-zero trace or span id, is invalid; a later version may
    carry more fields after ours)."""
    if not text:
        return None
    match = _TRACEPARENT.match(text.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or int(trace_id, 16) == 0 or int(span_id, 16) == 0:
        return None
    return TraceParent(int(trace_id, 16), int(span_id, 16), bool(int(flags, 16) & _SAMPLED))


@dataclass(frozen=True)
class RunTrace:
    """Where a run's spans go: its trace, its span's id, and its span's parent (the span of the
    ``traceparent`` it was started with)."""

    trace_id: int
    span_id: int
    parent: TraceParent | None
    sampled: bool

    @property
    def traceparent(self) -> TraceParent:
        """The run span's context (what a child run or an attempt is parented to)."""
        return TraceParent(self.trace_id, self.span_id, self.sampled)


def run_trace(run_id: str, traceparent: str | None) -> RunTrace:
    """The ids of run ``run_id``'s span: the same on every instance, at any time."""
    parent = parse_traceparent(traceparent)
    span_id = int.from_bytes(hashlib.blake2b(f"run:{run_id}".encode(), digest_size=8).digest(), "big") or 1
    if parent is not None:
        return RunTrace(parent.trace_id, span_id, parent, parent.sampled)
    try:
        trace_id = uuid.UUID(run_id).int
    except ValueError:  # not a UUID (runs are created with uuid4; this is a fallback)
        trace_id = int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=16).digest(), "big")
    return RunTrace(trace_id or 1, span_id, None, True)


def current_traceparent() -> str | None:
    """The ``traceparent`` of the attempt running in this task: what `http` steps send and
    shell steps get as ``TRACEPARENT``. None when tracing is off."""
    return _current.get()


# -- the exporter: on only when configured ----------------------------------------------------


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


class _Tracing:
    """The OpenTelemetry SDK, imported and set up only when `start` finds it configured."""

    def __init__(self, instance_id: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

        # The run span's ids are ours (derived); every other id is drawn as usual.
        forced: ContextVar[tuple[int, int] | None] = ContextVar("executor_forced_ids", default=None)

        class DerivedIds(RandomIdGenerator):
            def generate_span_id(self) -> int:
                ids = forced.get()
                return ids[1] if ids is not None else super().generate_span_id()

            def generate_trace_id(self) -> int:
                ids = forced.get()
                return ids[0] if ids is not None else super().generate_trace_id()

        resource = Resource.create({"service.version": __version__, "service.instance.id": instance_id})
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "executor"}))
        self.forced = forced
        # The batch processor's delay and sizes come from OTEL_BSP_* (default: every 5 s).
        self.provider = TracerProvider(resource=resource, id_generator=DerivedIds())
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("executor", __version__)

    def context(self, parent: TraceParent | None, *, remote: bool) -> Any:
        from opentelemetry import trace
        from opentelemetry.context import Context

        if parent is None:
            return Context()  # a root: never whatever span is current
        span_context = trace.SpanContext(
            parent.trace_id,
            parent.span_id,
            is_remote=remote,
            trace_flags=trace.TraceFlags(_SAMPLED if parent.sampled else 0),
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(span_context), Context())

    def end_run(self, run: RunTrace, name: str, attributes: dict[str, Any], start: float, end: float,
                error: str | None) -> None:  # fmt: skip
        from opentelemetry.trace import StatusCode

        token = self.forced.set((run.trace_id, run.span_id))
        try:
            span = self.tracer.start_span(
                name, context=self.context(run.parent, remote=True), attributes=attributes,
                start_time=_ns(start),
            )  # fmt: skip
        finally:
            self.forced.reset(token)
        if error is not None:
            span.set_status(StatusCode.ERROR, error)
        span.end(end_time=_ns(end))

    def start_attempt(self, run: RunTrace, name: str, attributes: dict[str, Any]) -> Any:
        return self.tracer.start_span(
            name, context=self.context(run.traceparent, remote=False), attributes=attributes
        )

    def shutdown(self) -> None:
        self.provider.force_flush(int(SHUTDOWN_TIMEOUT * 1000))
        self.provider.shutdown()


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


_tracing: _Tracing | None = None


def start(instance_id: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Set up the exporter if ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces one) is set;
    return whether tracing is on. Once per process (again after `shutdown`)."""
    global _tracing
    if _tracing is None and configured(environ):
        _tracing = _Tracing(instance_id)
    return _tracing is not None


def enabled() -> bool:
    return _tracing is not None


def shutdown() -> None:
    """Export what is queued (up to `SHUTDOWN_TIMEOUT`) and stop. Blocks: call it in a thread."""
    global _tracing
    tracing, _tracing = _tracing, None
    if tracing is not None:
        tracing.shutdown()


def end_run(
    run_id: str,
    traceparent: str | None,
    *,
    workflow: str,
    trigger: str,
    status: str,
    start: float,
    end: float,
    error: str | None = None,
) -> None:
    """Emit the span of a run that ended (Unix times ``start`` to ``end``)."""
    tracing = _tracing
    if tracing is None:
        return
    run = run_trace(run_id, traceparent)
    if not run.sampled:
        return
    attributes = {
        "executor.run_id": run_id,
        "executor.workflow": workflow,
        "executor.trigger": trigger,
        "executor.status": status,
    }
    tracing.end_run(run, f"run {workflow}", attributes, start, end, error if status == "failed" else None)


class AttemptSpan:
    """The span of one attempt running in this task; `end` it (once) when it is over."""

    def __init__(self, span: Any, traceparent: str) -> None:
        self.span = span
        self.traceparent = traceparent
        self._token: Token[str | None] = _current.set(traceparent)

    def end(self, outcome: str, error: str | None = None, at: float | None = None) -> None:
        """End it (at Unix time ``at``: when the action's outcome came, before the engine
        recorded it and started what follows; default now)."""
        from opentelemetry.trace import StatusCode

        try:
            _current.reset(self._token)
        except ValueError:  # ended from another context than the one it started in
            _current.set(None)
        self.span.set_attribute("executor.outcome", outcome)
        if outcome in ("failed", "lost"):
            self.span.set_status(StatusCode.ERROR, error or outcome)
        self.span.end(end_time=None if at is None else _ns(at))


def start_attempt(
    run_id: str, traceparent: str | None, *, step: str, item: int, attempt: int, action: str, workflow: str
) -> AttemptSpan | None:
    """Start the span of an attempt of ``step`` (None when tracing is off or the run's trace is
    not sampled); while it runs, `current_traceparent` is its context."""
    tracing = _tracing
    if tracing is None:
        return None
    run = run_trace(run_id, traceparent)
    if not run.sampled:
        return None
    attributes: dict[str, Any] = {
        "executor.run_id": run_id,
        "executor.workflow": workflow,
        "executor.step": step,
        "executor.attempt": attempt,
        "executor.action": action,
    }
    if item >= 0:
        attributes["executor.item"] = item
    span = tracing.start_attempt(run, step, attributes)  # the item is an attribute: names stay few
    context = span.get_span_context()
    return AttemptSpan(span, str(TraceParent(context.trace_id, context.span_id, run.sampled)))

"""Prometheus metrics of this process (served at ``GET /metrics``).

Every metric is declared here, in base units (seconds), with no run id in any label: the
labels are bounded by the catalog (workflow names), the action names, statuses and route
templates. The recording functions keep each label set's child, so the engine's hot path
(a few calls per step) pays a dict look-up and an increment, not `labels()`.

Gauges read from the database (`DatabaseGauges`) are the same on every instance of a fleet:
their help says to take ``max()`` across instances, never ``sum()``.
"""

from __future__ import annotations

import math
import weakref
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from executor import __version__

# No `_created` series beside every counter and histogram: twice the series for a value
# Prometheus does not use.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

# Steps run from milliseconds (noop) to hours (a long shell command or a wait).
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, math.inf)
RUN_BUCKETS = (0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 10800, 21600, 86400, math.inf)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, math.inf)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.inf)

BUILD_INFO = Info("executor_build", "The version of Executor this instance runs.", registry=REGISTRY)
BUILD_INFO.info({"version": __version__})

RUNS_STARTED = Counter(
    "executor_runs_started",
    "Runs this instance created, by workflow and trigger (api, cli, schedule, backfill, parent).",
    ["workflow", "trigger"],
    registry=REGISTRY,
)
RUNS_FINISHED = Counter(
    "executor_runs_finished",
    "Runs that ended on this instance (their last change committed here), by workflow and "
    "final status (succeeded, failed, cancelled).",
    ["workflow", "status"],
    registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "executor_run_duration_seconds",
    "Seconds from a run's creation to its end, observed by the instance that ended it.",
    ["workflow"],
    buckets=RUN_BUCKETS,
    registry=REGISTRY,
)
STEPS_IN_FLIGHT = Gauge(
    "executor_steps_in_flight",
    "Attempts running on this instance now (at most --concurrency).",
    registry=REGISTRY,
)
LEASES_LOST = Counter(
    "executor_leases_lost",
    "Leases this instance held and lost while their attempt ran (the step was reclaimed, e.g. "
    "after a stall longer than --lease): renewal found it gone and stopped the attempt, or the "
    "attempt's outcome was rejected. Each is also an attempt with outcome lost.",
    registry=REGISTRY,
)
SCHEDULE_TICKS = Counter(
    "executor_schedule_ticks",
    "Ticks of schedules this instance handled, by outcome: started (a run), skipped (overlap), "
    "buffered (overlap buffer_one/buffer_all), missed (older than the catch-up window).",
    ["outcome"],
    registry=REGISTRY,
)
RETENTION_DELETED = Counter(
    "executor_retention_deleted",
    "Finished runs this instance deleted by retention (with their steps, logs and signals).",
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "executor_llm_tokens",
    "Tokens of the calls to models (llm steps) this instance made, by model (as steps name it) "
    "and type: input, output, cached (of the input, those the server had cached) and reasoning "
    "(of the output, those spent reasoning). Failed calls count what they report.",
    ["model", "type"],
    registry=REGISTRY,
)
LLM_COST = Counter(
    "executor_llm_cost_usd",
    "USD the calls to models (llm steps) this instance made cost, by model, at the prices of "
    "--llm-prices (calls to a model without a price add nothing).",
    ["model"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "executor_http_requests",
    "HTTP requests this instance answered, by route template (e.g. /runs/{run_id}; "
    "'unmatched' for paths no route has), method and status class (2xx, 4xx, ...).",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "executor_http_request_duration_seconds",
    "Seconds from receiving an HTTP request to the end of its response, by route template "
    "and method (streamed responses count until their last byte).",
    ["route", "method"],
    buckets=HTTP_BUCKETS,
    registry=REGISTRY,
)

# -- recording (the engine's listener and the HTTP middleware call these) ------------------

_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (id(metric), *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def run_started(workflow: str, trigger: str) -> None:
    _child(RUNS_STARTED, workflow, trigger).inc()


def run_finished(workflow: str, status: str, seconds: float | None) -> None:
    _child(RUNS_FINISHED, workflow, status).inc()
    if seconds is not None:
        _child(RUN_DURATION, workflow).observe(max(0.0, seconds))


# -- the per-step metrics: plain numbers, exposed at scrape time ----------------------------


def _le(bound: float) -> str:
    """A bucket's bound as Prometheus writes it ("0.005", "+Inf")."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


class _Buckets:
    """A histogram's counts as plain numbers: observed on the event loop's thread only, so
    without the lock (and the per-bucket scan) that prometheus-client's pays per observation."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = [bound for bound in bounds if bound != math.inf]
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # a bucket counts values <= its bound
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        running, found = 0.0, []
        for bound, count in zip([*self.bounds, math.inf], self.counts, strict=True):
            running += count
            found.append((_le(bound), running))
        return found


class StepMetrics(Collector):
    """The metrics recorded a few times per step, kept as plain counts (no lock, no bucket
    scan per observation) and turned into metric families when scraped."""

    ATTEMPTS = (
        "executor_step_attempts",
        "Attempts of steps this instance ran, by action and outcome: succeeded, failed, suspended "
        "(a durable step now waits: sleep, wait, a child run), cancelled (the run was cancelled, or "
        "a drain handed the attempt back), lost (its lease was lost; the outcome was not recorded) "
        "or error (Executor could not run it or record its outcome, e.g. the database was away).",
    )
    DURATION = (
        "executor_step_duration_seconds",
        "Seconds an attempt of a step ran on this instance, by action (from its start to its "
        "outcome, before recording it).",
    )
    QUEUE_WAIT = (
        "executor_step_queue_wait_seconds",
        "Seconds from a step becoming ready (queued, a retry delay or a timer over) to this "
        "instance claiming it.",
    )

    def __init__(self) -> None:
        self.attempts: dict[tuple[str, str], int] = {}
        self.durations: dict[str, _Buckets] = {}
        self.queue_wait = _Buckets(WAIT_BUCKETS)

    def describe(self) -> Iterable[Metric]:
        return [
            CounterMetricFamily(*self.ATTEMPTS, labels=["action", "outcome"]),
            HistogramMetricFamily(*self.DURATION, labels=["action"]),
            HistogramMetricFamily(*self.QUEUE_WAIT),
        ]

    def collect(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(*self.ATTEMPTS, labels=["action", "outcome"])
        for (action, outcome), count in list(self.attempts.items()):
            attempts.add_metric([action, outcome], count)
        yield attempts
        durations = HistogramMetricFamily(*self.DURATION, labels=["action"])
        for action, buckets in list(self.durations.items()):
            durations.add_metric([action], buckets.cumulative(), buckets.total)
        yield durations
        waits = HistogramMetricFamily(*self.QUEUE_WAIT)
        waits.add_metric([], self.queue_wait.cumulative(), self.queue_wait.total)
        yield waits


STEPS = StepMetrics()
REGISTRY.register(STEPS)


def step_claimed(waited: float) -> None:
    STEPS.queue_wait.observe(max(0.0, waited))


def step_attempt(action: str, outcome: str, seconds: float) -> None:
    key = (action, outcome)
    STEPS.attempts[key] = STEPS.attempts.get(key, 0) + 1
    buckets = STEPS.durations.get(action)
    if buckets is None:
        buckets = STEPS.durations[action] = _Buckets(STEP_BUCKETS)
    buckets.observe(seconds)


# A model's name comes from a step (templated, perhaps from a run's input): a label this
# long at most, so that no input can blow up the series' size.
MODEL_LABEL_CHARS = 100


def llm_call(
    model: str, input_tokens: int, output_tokens: int, cached: int, reasoning: int, cost_usd: float | None
) -> None:
    model = model[:MODEL_LABEL_CHARS]
    counts = {"input": input_tokens, "output": output_tokens, "cached": cached, "reasoning": reasoning}
    for kind, count in counts.items():
        _child(LLM_TOKENS, model, kind).inc(count)
    if cost_usd is not None:
        _child(LLM_COST, model).inc(cost_usd)


def lease_lost() -> None:
    LEASES_LOST.inc()


def http_request(route: str, method: str, status: int, seconds: float) -> None:
    _child(HTTP_REQUESTS, route, method, f"{status // 100}xx").inc()
    _child(HTTP_DURATION, route, method).observe(seconds)


def schedule_ticks(outcome: str, count: int = 1) -> None:
    if count:
        _child(SCHEDULE_TICKS, outcome).inc(count)


def retention_deleted(count: int) -> None:
    if count:
        RETENTION_DELETED.inc(count)


# -- steps in flight: read from the claim loops of this process at scrape time ---------------


class InFlight(Protocol):
    @property
    def in_flight(self) -> int: ...


# Weakly held: an engine that is gone (tests make many) no longer counts.
_in_flight: weakref.WeakSet[InFlight] = weakref.WeakSet()


def count_in_flight(source: InFlight) -> None:
    """Count ``source``'s attempts (a claim loop's ``in_flight``) in `executor_steps_in_flight`."""
    _in_flight.add(source)


STEPS_IN_FLIGHT.set_function(lambda: float(sum(source.in_flight for source in list(_in_flight))))

# -- gauges read from the database at scrape time --------------------------------------------


class DatabaseGauges(Collector):
    """What the database says when `/metrics` is scraped (`update` before each scrape); the
    same on every instance of a fleet. Nothing is exposed while the last read failed."""

    HELP: ClassVar[dict[str, str]] = {
        "executor_steps_ready": (
            "Steps ready to run and not claimed yet (queued and due, or waiting with their "
            "timer over), across the fleet: read from the database at scrape time, the same on "
            "every instance; aggregate with max(), not sum()."
        ),
        "executor_steps_running": (
            "Steps running on any instance (holding a lease), across the fleet: read from the "
            "database at scrape time, the same on every instance; aggregate with max(), not sum()."
        ),
    }

    def __init__(self) -> None:
        self.values: dict[str, float] | None = None

    def update(self, values: dict[str, float] | None) -> None:
        self.values = values

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(name, help_text) for name, help_text in self.HELP.items()]

    def collect(self) -> Iterator[Metric]:
        values = self.values
        if values is None:
            return
        for name, help_text in self.HELP.items():
            if name in values:
                yield GaugeMetricFamily(name, help_text, value=values[name])


DATABASE = DatabaseGauges()
REGISTRY.register(DATABASE)


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The registry in the format ``accept`` asks for (Prometheus text, or OpenMetrics), and
    its content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(REGISTRY), content_type

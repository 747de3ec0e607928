"""Schedules as a workflow declares them, and the times they fire.

A schedule is either a cron expression (five fields or an ``@hourly``-style alias) read in
an IANA time zone, or a fixed interval (``every``). Cron times come from cronsim, which
behaves as Debian's cron does across daylight-saving changes: a job at a fixed local time
fires once when clocks fall back (not once per fold) and at the first valid minute when
they spring forward; a job that repeats within the hour (``*/30``) fires in both folds,
because both are real instants. Intervals count from a fixed anchor (the Unix epoch, plus
the schedule's ``offset``), so every instance of a fleet computes the same ticks.

Ticks are Unix seconds (UTC), the same clock as the store's.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from executor.workflow.expressions import NO_SCHEDULE

OVERLAPS = ("skip", "buffer_one", "buffer_all", "cancel_other", "allow_all")
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
DEFAULT_CATCHUP_WINDOW = 3600.0
MIN_EVERY = 1.0


class ScheduleError(ValueError):
    """A cron expression, time zone or interval that cannot be used (the message says why)."""


@dataclass(frozen=True)
class Schedule:
    """One entry of a workflow's ``schedules:``."""

    id: str
    cron: str | None = None  # as written (an alias stays an alias)
    every: float | None = None  # seconds
    timezone: str = "UTC"
    input: dict[str, Any] = field(default_factory=dict)
    overlap: str = "skip"
    catchup_window: float = DEFAULT_CATCHUP_WINDOW
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise ScheduleError("a schedule needs exactly one of cron and every")
        if self.cron is not None:
            check_cron(self.cron)
        if self.every is not None and not (math.isfinite(self.every) and self.every >= MIN_EVERY):
            raise ScheduleError(f"every must be at least {MIN_EVERY:g}s")
        zone(self.timezone)

    @cached_property
    def _zone(self) -> ZoneInfo:
        return zone(self.timezone)

    def ticks_after(self, after: float) -> Iterator[float]:
        """The ticks strictly after ``after``, in order, without end (or until a cron that
        cannot fire again, which cronsim ends)."""
        if self.every is not None:
            n = math.floor(after / self.every) + 1
            while True:
                yield n * self.every
                n += 1
        assert self.cron is not None
        start = datetime.fromtimestamp(after, self._zone)
        if start.timestamp() > after:
            # fromtimestamp rounds to the microsecond, up too: a hair before a tick would
            # become the tick itself and cronsim, counting strictly after, would skip it.
            start -= timedelta(microseconds=1)
        for moment in CronSim(ALIASES.get(self.cron, self.cron), start):
            yield moment.timestamp()

    def next_tick(self, after: float) -> float | None:
        return next(self.ticks_after(after), None)

    def next_ticks(self, after: float, count: int) -> list[float]:
        ticks = []
        for tick in self.ticks_after(after):
            ticks.append(tick)
            if len(ticks) == count:
                break
        return ticks

    def ticks_between(self, after: float, until: float, limit: int) -> tuple[list[float], int]:
        """The ticks in ``(after, until]``: the last ``limit`` of them, and how many more
        came before those (counted, not listed: an interval schedule down for a year would
        otherwise list millions)."""
        if self.every is not None:
            first = math.floor(after / self.every) + 1
            last = math.floor(until / self.every)
            if last < first:
                return [], 0
            kept = max(first, last - limit + 1)
            return [n * self.every for n in range(kept, last + 1)], kept - first
        ticks: list[float] = []
        earlier = 0
        for tick in self.ticks_after(after):
            if tick > until:
                break
            ticks.append(tick)
            if len(ticks) > limit:
                ticks.pop(0)
                earlier += 1
        return ticks, earlier

    def previous_tick(self, before: float) -> float | None:
        """The last tick strictly before ``before``."""
        if self.every is not None:
            return (math.ceil(before / self.every) - 1) * self.every
        assert self.cron is not None
        start = datetime.fromtimestamp(before, self._zone)
        for moment in CronSim(ALIASES.get(self.cron, self.cron), start, reverse=True):
            if moment.timestamp() < before:
                return moment.timestamp()
        return None

    def fire_at(self, tick: float) -> float:
        """When to start the run of ``tick``: the tick plus its jitter. The jitter is the same
        on every instance (drawn from the schedule and the tick), and never reaches the next
        tick."""
        if not self.jitter:
            return tick
        following = self.next_tick(tick)
        room = self.jitter if following is None else min(self.jitter, (following - tick) * 0.9)
        digest = hashlib.sha256(f"{self.id}:{tick!r}".encode()).digest()
        return tick + room * int.from_bytes(digest[:8], "big") / 2**64

    def local(self, tick: float) -> datetime:
        """``tick`` as a time in the schedule's zone."""
        return datetime.fromtimestamp(tick, self._zone)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cron": self.cron,
            "every": self.every,
            "timezone": self.timezone,
            "input": self.input,
            "overlap": self.overlap,
            "catchup_window": self.catchup_window,
            "jitter": self.jitter,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        return cls(
            id=data["id"],
            cron=data.get("cron"),
            every=data.get("every"),
            timezone=data.get("timezone") or "UTC",
            input=data.get("input") or {},
            overlap=data.get("overlap") or "skip",
            catchup_window=float(data.get("catchup_window", DEFAULT_CATCHUP_WINDOW)),
            jitter=float(data.get("jitter") or 0.0),
        )


def template_context(
    schedule: Schedule | None, schedule_id: str | None, tick: float | None
) -> dict[str, Any]:
    """What templates see as ``schedule``: the tick that started the run (its nominal time,
    like Airflow's logical date: a nightly job that runs late still processes its own day),
    in the schedule's zone, and the tick before it (the start of the period the run covers).
    All None for a run no schedule started."""
    if schedule_id is None or tick is None:
        return dict(NO_SCHEDULE)
    previous = schedule.previous_tick(tick) if schedule is not None else None
    local = schedule.local(tick) if schedule is not None else datetime.fromtimestamp(tick, UTC)
    return {
        "id": schedule_id,
        "tick": iso(tick, schedule),
        "timestamp": tick,
        "date": local.date().isoformat(),
        "previous_tick": None if previous is None else iso(previous, schedule),
    }


def check_cron(expression: str) -> None:
    """Raise `ScheduleError` unless ``expression`` is five cron fields or a known alias."""
    text = ALIASES.get(expression.strip(), expression)
    try:
        CronSim(text, datetime.now(UTC))
    except CronSimError as exc:
        aliases = ", ".join(ALIASES)
        raise ScheduleError(f"{expression!r} is not a cron expression ({exc}; or one of {aliases})") from None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (from the system's database, else the bundled tzdata)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)") from None


def iso(tick: float, schedule: Schedule | None = None) -> str:
    """``tick`` in ISO 8601: in the schedule's zone (with its offset) when given, else UTC."""
    moment = schedule.local(tick) if schedule is not None else datetime.fromtimestamp(tick, UTC)
    return moment.isoformat(timespec="seconds") if moment.microsecond == 0 else moment.isoformat()

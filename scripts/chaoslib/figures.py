"""Every figure from the evidence alone (no I/O): what was submitted and accepted, the final
runs and steps, the succeeded steps as first seen during the window, the side-effect lines,
and the kills with the commands found alive after each. The package's docstring says what
each figure means; the functions here are that text in code."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

StepKey = tuple[str, str]  # (run id, step id)
CommandKey = tuple[str, str, str, int]  # (incarnation, run id, step id, attempt): one command

SHELL_STEPS = ("prepare", "work")
JOIN_STEP = "finish"  # copies the recorded output of each shell step
FINAL_RUN = ("succeeded", "failed", "cancelled")
# A failure caused by the chaos rather than by the command: the engine lost its executor or
# its lease, the command was killed, or the database connection went away.
CHAOS_ERROR = re.compile(r"executor lost|lease|killed by signal|connection|terminat|database", re.IGNORECASE)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class StepRecord:
    """A step's row as read from the database."""

    status: str
    attempt: int
    finished_at: float | None
    output: Any
    error: str | None
    history: Any = None  # the ended attempts, oldest first (schema 2 and later; else None)

    @property
    def completion(self) -> tuple[int, float | None, str]:
        """What a second recording of its completion would change."""
        return (self.attempt, self.finished_at, json.dumps(self.output, sort_keys=True))

    @property
    def token(self) -> str | None:
        """The attempt whose output was recorded (``<instance> <pid> <attempt>``), if any."""
        return self.output.get("attempt") if isinstance(self.output, dict) else None


@dataclass(frozen=True)
class Seen:
    """A succeeded step as first read during the window; ``at``: when that reading returned."""

    at: float
    record: StepRecord


@dataclass(frozen=True)
class Effect:
    """One side-effect line: ``<time> start|done <run> <step> <attempt> <pid> <instance>``."""

    at: float
    event: str
    run_id: str
    step_id: str
    attempt: int
    pid: int
    incarnation: str

    @classmethod
    def parse(cls, line: str) -> Effect | None:
        parts = line.split()
        if len(parts) != 7 or parts[1] not in ("start", "done"):
            return None
        try:
            return cls(float(parts[0]), parts[1], parts[2], parts[3], int(parts[4]), int(parts[5]), parts[6])
        except ValueError:
            return None

    @property
    def step(self) -> StepKey:
        return (self.run_id, self.step_id)

    @property
    def command(self) -> CommandKey:
        return (self.incarnation, self.run_id, self.step_id, self.attempt)

    @property
    def token(self) -> str:
        """What the command printed: its recorded output names it."""
        return f"{self.incarnation} {self.pid} {self.attempt}"


@dataclass
class Kill:
    """One ``kill -9``: when, which incarnation, the commands of it alive ``grace`` s later."""

    at: float
    incarnation: str
    alive_after: set[CommandKey] = field(default_factory=set)


@dataclass
class Evidence:
    backend: str
    submitted: int
    accepted: dict[int, str]  # submission number -> run id
    refused: dict[int, str]  # submission number -> why it was never accepted
    runs: dict[str, tuple[str, str | None]]  # run id -> (status, error), read after the drain
    steps: dict[StepKey, StepRecord]  # read after the drain
    seen: dict[StepKey, Seen]  # the first reading of each step that succeeded during the window
    effects: list[Effect]
    kills: list[Kill]
    orphan_grace: float
    terminations: int = 0
    postgres_restarts: int = 0
    unexpected_exits: list[str] = field(default_factory=list)  # incarnations that died on their own
    stop_exit_codes: dict[str, int] = field(default_factory=dict)  # incarnation -> code after SIGTERM
    unreadable_lines: int = 0


@dataclass
class Figures:
    backend: str
    submitted: int
    accepted: int
    refused: int
    finished: int
    failed: int
    failed_by_kills: int
    failure_reasons: dict[str, int]
    lost: int
    lost_runs: list[str]
    twice: int
    twice_detail: dict[str, int]
    twice_steps: list[str]
    duplicate_side_effects: int
    duplicates_per_kill: float | None
    orphans: int
    orphan_commands: list[str]
    longest_wait_after_kill: float | None
    interrupted_steps: int
    interrupted_not_rerun: int
    kills: int
    terminations: int
    postgres_restarts: int
    unexpected_exits: list[str]
    stop_exit_codes: dict[str, int]
    unreadable_lines: int

    @property
    def broken(self) -> list[str]:
        """The invariants that do not hold: empty when the backend passed."""
        checks = {"failed": self.failed, "lost": self.lost, "twice": self.twice, "orphans": self.orphans}
        return [name for name, value in checks.items() if value]

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "broken": self.broken, "ok": not self.broken}


def compute(evidence: Evidence) -> Figures:
    runs = _runs(evidence)
    twice = _twice(evidence)
    interrupted, not_rerun, longest = _waits(evidence)
    orphans = _orphans(evidence)
    duplicates = _duplicates(evidence)
    kills = len(evidence.kills)
    twice_steps: set[StepKey] = set()
    for keys in twice.values():
        twice_steps |= keys
    return Figures(
        backend=evidence.backend,
        submitted=evidence.submitted,
        accepted=len(evidence.accepted),
        refused=len(evidence.refused),
        kills=kills,
        terminations=evidence.terminations,
        postgres_restarts=evidence.postgres_restarts,
        **runs,
        twice=len(twice_steps),
        twice_detail={name: len(keys) for name, keys in twice.items()},
        twice_steps=sorted(f"{run} {step}" for run, step in twice_steps)[:20],
        duplicate_side_effects=duplicates,
        duplicates_per_kill=round(duplicates / kills, 2) if kills else None,
        orphans=len(orphans),
        orphan_commands=sorted(" ".join(map(str, key)) for key in orphans)[:20],
        longest_wait_after_kill=None if longest is None else round(longest, 3),
        interrupted_steps=interrupted,
        interrupted_not_rerun=not_rerun,
        unexpected_exits=evidence.unexpected_exits,
        stop_exit_codes=evidence.stop_exit_codes,
        unreadable_lines=evidence.unreadable_lines,
    )


def _runs(evidence: Evidence) -> dict[str, Any]:
    finished = 0
    reasons: Counter[str] = Counter()
    by_kills = 0
    lost: list[str] = []
    for run_id in evidence.accepted.values():
        status, error = evidence.runs.get(run_id, ("missing", None))
        if status == "succeeded":
            finished += 1
        elif status in FINAL_RUN:
            reason = _UUID.sub("<id>", f"{status}: {error or 'no error recorded'}")
            reasons[reason] += 1
            by_kills += bool(CHAOS_ERROR.search(reason))
        else:
            lost.append(f"{run_id} ({status})")
    return {
        "finished": finished,
        "failed": sum(reasons.values()),
        "failed_by_kills": by_kills,
        "failure_reasons": dict(reasons.most_common()),
        "lost": len(lost),
        "lost_runs": sorted(lost)[:20],
    }


def _twice(evidence: Evidence) -> dict[str, set[StepKey]]:
    """The steps whose completion was recorded more than once, by the evidence that shows it."""
    changed = {
        key
        for key, seen in evidence.seen.items()
        if (now := evidence.steps.get(key)) is None
        or now.status != "succeeded"
        or now.completion != seen.record.completion
    }
    ran_again = {
        e.step
        for e in evidence.effects
        if e.event == "start" and e.step in evidence.seen and e.at > evidence.seen[e.step].at
    }
    consumed_other: set[StepKey] = set()
    for (run_id, step_id), join in evidence.steps.items():
        if step_id != JOIN_STEP or join.status != "succeeded" or not isinstance(join.output, dict):
            continue
        for upstream in SHELL_STEPS:
            recorded = evidence.steps.get((run_id, upstream))
            if recorded is None or join.output.get(upstream) != recorded.token:
                consumed_other.add((run_id, upstream))
    succeeded_in_history = {
        key
        for key, record in evidence.steps.items()
        if isinstance(record.history, list)
        and sum(
            1 for entry in record.history if isinstance(entry, dict) and entry.get("outcome") == "succeeded"
        )
        > 1
    }
    return {
        "changed_after_seen": changed,
        "ran_after_recorded": ran_again,
        "consumed_other": consumed_other,
        "succeeded_twice_in_history": succeeded_in_history,
    }


def _duplicates(evidence: Evidence) -> int:
    commands: dict[StepKey, set[tuple[str, int]]] = defaultdict(set)
    for e in evidence.effects:
        if e.event == "start":
            commands[e.step].add((e.incarnation, e.pid))
    return sum(len(started) - 1 for started in commands.values())


def _orphans(evidence: Evidence) -> set[CommandKey]:
    found: set[CommandKey] = set()
    for kill in evidence.kills:
        found |= kill.alive_after
        found |= {
            e.command
            for e in evidence.effects
            if e.event == "done"
            and e.incarnation == kill.incarnation
            and e.at > kill.at + evidence.orphan_grace
        }
    return found


def _waits(evidence: Evidence) -> tuple[int, int, float | None]:
    """(steps interrupted by a kill, of them never started again, longest kill-to-restart)."""
    starts: dict[StepKey, list[Effect]] = defaultdict(list)
    for e in sorted(evidence.effects, key=lambda e: e.at):
        if e.event == "start":
            starts[e.step].append(e)
    interrupted = not_rerun = 0
    longest: float | None = None
    for kill in evidence.kills:
        for key, attempts in starts.items():
            before = [e for e in attempts if e.at <= kill.at]
            if not before or before[-1].incarnation != kill.incarnation:
                continue
            recorded = evidence.steps.get(key)
            if recorded is not None and recorded.status == "succeeded" and recorded.token == before[-1].token:
                continue  # the killed instance had recorded it: nothing to run again
            interrupted += 1
            after = [e for e in attempts if e.at > kill.at]
            if not after:
                not_rerun += 1
                continue
            wait = after[0].at - kill.at
            longest = wait if longest is None else max(longest, wait)
    return interrupted, not_rerun, longest

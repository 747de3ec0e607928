"""What a validated workflow is: the model the parser produces and the engine runs.

A `Workflow` is immutable. It is stored as its normalised JSON (`to_json`) beside the YAML
the user sent; `digest` hashes that JSON, so sending the same definition again finds the
same version. A run always executes the stored version it started with.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from executor.workflow import expressions
from executor.workflow.cycles import Goto, Repeat
from executor.workflow.exclusion import Concurrency, Semaphore
from executor.workflow.schedules import Schedule

TRIGGER_RULES = (
    "all_success",
    "all_done",
    "all_failed",
    "one_success",
    "one_failed",
    "none_failed",
    "none_failed_min_one_success",
)
# The mapping form of `trigger_rule`: {min_success: N} or {min_done: N} (N-of-M joins).
PARTIAL_RULES = ("min_success", "min_done")
BACKOFFS = ("fixed", "exponential")


@dataclass(frozen=True)
class RetryPolicy:
    """How often an attempt that failed (or timed out) is tried again, and after how long."""

    max_attempts: int = 1
    backoff: Literal["fixed", "exponential"] = "exponential"
    delay: float = 1.0
    max_delay: float = 60.0
    # Fraction (0..1) of each delay that is randomised, so retries of many steps spread out.
    jitter: float = 0.0
    # A template over the failed attempt's `result` and `error`: false → no more attempts.
    when: Any = None

    def delay_after(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next."""
        growth = 1 if self.backoff == "fixed" else 2 ** max(0, attempt - 1)
        base = min(self.delay * growth, self.max_delay)
        if self.jitter:
            base -= base * self.jitter * (rng or random).random()
        return base

    def to_json(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "backoff": self.backoff,
            "delay": self.delay,
            "max_delay": self.max_delay,
            "jitter": self.jitter,
            **({"when": self.when} if self.when is not None else {}),
        }


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    # Values may hold templates ("{{ ... }}"): they are rendered when the step runs.
    with_: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    when: Any = None  # None: always; else a template (or literal bool) rendered before the step
    for_each: Any = None  # None: one attempt chain; else a template (or literal list) of items
    concurrency: int | None = None  # for_each items in flight at once (None: no limit)
    retry: RetryPolicy = RetryPolicy()
    timeout: float | None = None  # one attempt's limit in seconds (None: none)
    outputs: dict[str, Any] | None = None  # templates over `result`; None: output = result
    trigger_rule: str | dict[str, int] = "all_success"  # a name, or {min_success|min_done: N}
    continue_on_error: bool = False
    # When the step starts, its needs still not final are cancelled (a cancelling join).
    cancel_remaining: bool = False
    # A lost attempt (its instance died or lost its lease): `retry` runs it again (at least
    # once execution), `fail` fails the step (its side effect must never run twice).
    on_lost: str = "retry"
    repeat: Repeat | None = None  # run again after success until a condition (`cycles`)
    goto: Goto | None = None  # after success, send the run back to an ancestor (`cycles`)
    semaphore: Semaphore | None = None  # `mutex`/`semaphore`: a key held across runs (`exclusion`)
    # Further files its successful attempt keeps, beside those in EXECUTOR_ARTIFACTS_DIR:
    # paths or globs relative to its working directory.
    artifacts: tuple[str, ...] = ()

    @cached_property
    def templated(self) -> bool:
        """Whether ``with`` holds templates at all: without, the runner renders nothing."""
        return any(True for _ in expressions.iter_templates(self.with_))

    @cached_property
    def reads_artifacts(self) -> bool:
        """Whether ``with`` reads other steps' artifacts (`steps.x.artifacts`)."""
        return self.reads_steps and any(
            ".artifacts" in source for _, source in expressions.iter_templates(self.with_)
        )

    @cached_property
    def reads_steps(self) -> bool:
        """Whether ``with`` reads other steps' results: the runner loads them only then."""
        return expressions.reads_steps(self.with_)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "with": self.with_,
            "needs": list(self.needs),
            "when": self.when,
            "for_each": self.for_each,
            "concurrency": self.concurrency,
            "retry": self.retry.to_json(),
            "timeout": self.timeout,
            "outputs": self.outputs,
            "trigger_rule": self.trigger_rule,
            "continue_on_error": self.continue_on_error,
            # Only when set: the digests of workflows stored before `on_lost` existed stay
            # the same, so registering them again finds their version.
            **({"on_lost": self.on_lost} if self.on_lost != "retry" else {}),
            **({"cancel_remaining": True} if self.cancel_remaining else {}),
            **({"repeat": self.repeat.to_json()} if self.repeat is not None else {}),
            **({"goto": self.goto.to_json()} if self.goto is not None else {}),
            **(self.semaphore.to_json() if self.semaphore is not None else {}),
            **({"artifacts": list(self.artifacts)} if self.artifacts else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        return cls(
            id=data["id"],
            action=data["action"],
            with_=data.get("with") or {},
            needs=tuple(data.get("needs") or ()),
            when=data.get("when"),
            for_each=data.get("for_each"),
            concurrency=data.get("concurrency"),
            retry=RetryPolicy(**data.get("retry", {})),
            timeout=data.get("timeout"),
            outputs=data.get("outputs"),
            trigger_rule=data.get("trigger_rule", "all_success"),
            continue_on_error=bool(data.get("continue_on_error", False)),
            on_lost=data.get("on_lost", "retry"),
            cancel_remaining=bool(data.get("cancel_remaining", False)),
            repeat=Repeat.from_json(data["repeat"]) if data.get("repeat") else None,
            goto=Goto.from_json(data["goto"]) if data.get("goto") else None,
            semaphore=Semaphore.from_json(data),
            artifacts=tuple(data.get("artifacts") or ()),
        )


@dataclass(frozen=True)
class Workflow:
    name: str
    steps: tuple[Step, ...]
    description: str = ""
    inputs: dict[str, Any] | None = None  # JSON Schema of the run input
    timeout: float | None = None  # whole-run limit in seconds
    outputs: dict[str, Any] | None = None  # templates over `steps`, rendered when the run ends
    schedules: tuple[Schedule, ...] = ()
    # Seconds its finished runs are kept (None: the --retention setting; 0: forever).
    retention: float | None = None
    # Steps that run once every step of `steps` is final, whatever happened (exit handlers;
    # `engine.endings`). They may need each other, never a step of `steps`.
    finally_: tuple[Step, ...] = ()
    # A key its runs hold while they run (GitHub Actions' concurrency groups; `exclusion`).
    concurrency: Concurrency | None = None
    # USD a run may spend on calls to models (`llm`): once spent, its next call fails.
    budget: float | None = None

    @cached_property
    def finally_ids(self) -> frozenset[str]:
        return frozenset(step.id for step in self.finally_)

    def step(self, step_id: str) -> Step:
        return self._index[0][step_id]

    def schedule(self, schedule_id: str | None) -> Schedule | None:
        """The schedule declared with this id (None: no such schedule in this version)."""
        return next((s for s in self.schedules if s.id == schedule_id), None)

    @cached_property
    def takes_keys(self) -> bool:
        """Whether its runs or steps hold keys (`concurrency`, `mutex`, `semaphore`)."""
        return self.concurrency is not None or any(
            step.semaphore is not None for step in (*self.steps, *self.finally_)
        )

    @cached_property
    def starts_children(self) -> bool:
        """Whether a run of it can start child runs (has `workflow` steps)."""
        return any(step.action == "workflow" for step in (*self.steps, *self.finally_))

    def dependents(self, step_id: str) -> list[Step]:
        """The steps that need ``step_id``, in definition order."""
        return self._index[1].get(step_id, [])

    @cached_property
    def _index(self) -> tuple[dict[str, Step], dict[str, list[Step]]]:
        by_id = {step.id: step for step in (*self.steps, *self.finally_)}
        dependents: dict[str, list[Step]] = {}
        for step in (*self.steps, *self.finally_):
            for need in step.needs:
                dependents.setdefault(need, []).append(step)
        return by_id, dependents

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "inputs": self.inputs,
            "timeout": self.timeout,
            "steps": [step.to_json() for step in self.steps],
            "outputs": self.outputs,
            # Only when set: the digests of workflows stored before these keys existed stay
            # the same, so registering them again finds their version.
            **({"schedules": [s.to_json() for s in self.schedules]} if self.schedules else {}),
            **({"retention": self.retention} if self.retention is not None else {}),
            **({"finally": [step.to_json() for step in self.finally_]} if self.finally_ else {}),
            **({"concurrency": self.concurrency.to_json()} if self.concurrency is not None else {}),
            **({"budget": {"usd": self.budget}} if self.budget is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workflow:
        return cls(
            name=data["name"],
            description=data.get("description") or "",
            inputs=data.get("inputs"),
            timeout=data.get("timeout"),
            steps=tuple(Step.from_json(step) for step in data["steps"]),
            outputs=data.get("outputs"),
            schedules=tuple(Schedule.from_json(s) for s in data.get("schedules") or ()),
            retention=data.get("retention"),
            finally_=tuple(Step.from_json(step) for step in data.get("finally") or ()),
            concurrency=Concurrency.from_json(data.get("concurrency")),
            budget=(data.get("budget") or {}).get("usd"),
        )

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

"""The workflow language: YAML (or a JSON body) in, a validated `Workflow` out.

Every rule is checked and every problem collected before anything is raised: a user with
five mistakes should see five lines, not fix them one reload at a time. Each problem names
its path (``steps[2].retry.delay``) and, when the definition came from YAML, its line.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from executor.durations import bounded, parse_duration
from executor.errors import InputInvalid, Problem, WorkflowInvalid
from executor.workflow import artifacts, cycles, endings, exclusion, expressions, foreach, graph, joins
from executor.workflow.inputs import apply_input
from executor.workflow.model import BACKOFFS, RetryPolicy, Step, Workflow
from executor.workflow.params import action_names, check_action
from executor.workflow.schedules import (
    DEFAULT_CATCHUP_WINDOW,
    MIN_EVERY,
    OVERLAPS,
    Schedule,
    ScheduleError,
    check_cron,
    zone,
)
from executor.workflow.source import MAX_BYTES, join, load_yaml, parent

__all__ = ["Problem", "load_workflow_file", "parse_definition", "parse_workflow"]

TOP_KEYS = (
    "name",
    "description",
    "inputs",
    "timeout",
    "defaults",
    "steps",
    "outputs",
    "schedules",
    "retention",
    "finally",
    "concurrency",
    "budget",
)
SCHEDULE_KEYS = ("id", "cron", "every", "timezone", "input", "overlap", "catchup_window", "jitter")
DEFAULTS_KEYS = ("timeout", "retry")
STEP_KEYS = (
    "id",
    "action",
    "with",
    "needs",
    "when",
    "for_each",
    "concurrency",
    "retry",
    "timeout",
    "outputs",
    "trigger_rule",
    "continue_on_error",
    "on_lost",
    "cancel_remaining",
    "repeat",
    "goto",
    "mutex",
    "semaphore",
    "artifacts",
)
ON_LOST = ("retry", "fail")
BUDGET_KEYS = ("usd",)
MAX_BUDGET = 1e9  # USD: a budget is a number, not infinity
RETRY_KEYS = ("max_attempts", "backoff", "delay", "max_delay", "jitter", "when")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
STEP_ID = re.compile(r"[a-z0-9_]+")
MAX_ID = 64
MAX_ATTEMPTS = 1_000_000  # of a retry policy: bounded so that it is a number, not infinity


def parse_workflow(text: str, filename: str | None = None) -> Workflow:
    """Parse a YAML workflow; `WorkflowInvalid` lists every problem with its line."""
    source = load_yaml(text, filename)
    if source.data is None:  # unreadable YAML: nothing sensible to check further
        raise WorkflowInvalid(source.problems or [Problem("", None, "the document is empty", filename)])
    return _Checker(source.lines, filename, source.problems).workflow(source.data)


def parse_definition(data: Any, lines: dict[str, int] | None = None) -> Workflow:
    """Check an already decoded definition (a JSON body); problems carry lines only if given."""
    return _Checker(lines or {}, None, []).workflow(data)


def load_workflow_file(path: str | os.PathLike[str]) -> Workflow:
    filename = os.fspath(path)
    try:
        with open(filename, "rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise WorkflowInvalid([Problem("", None, f"cannot read the file: {exc.strerror}", filename)]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowInvalid([Problem("", None, "the file is not UTF-8 text", filename)]) from exc
    return parse_workflow(text, filename)


@dataclass
class _StepDraft:
    """What one step's checks produced; becomes a `Step` if the whole workflow is valid."""

    index: int
    id: str | None
    needs: list[tuple[str, str]]  # (path, step id)
    fields: dict[str, Any]
    retry: dict[str, Any] = field(default_factory=dict)
    section: str = "steps"  # or "finally" (`workflow.endings`)

    @property
    def where(self) -> str:
        return f"{self.section}[{self.index}]"


class _Checker:
    def __init__(self, lines: dict[str, int], filename: str | None, problems: list[Problem]) -> None:
        self.lines = lines
        self.filename = filename
        self.problems = list(problems)

    # -- reporting ---------------------------------------------------------------------

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, self.line(path), message, self.filename))

    def line(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest ancestor (a missing key: its mapping's)."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = parent(path)

    def unknown_keys(self, path: str, value: dict[str, Any], known: tuple[str, ...]) -> None:
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(known)}"
                self.add(join(path, str(key)), f"unknown key ({hint})")

    # -- the document ------------------------------------------------------------------

    def workflow(self, data: Any) -> Workflow:
        if not isinstance(data, dict):
            self.add("", f"a workflow must be a mapping with name and steps, not {_kind(data)}")
            raise WorkflowInvalid(self.problems)
        self.unknown_keys("", data, TOP_KEYS)
        name = self.name(data.get("name"))
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            self.add("description", "must be a string")
        inputs = self.input_schema(data.get("inputs"))
        timeout = self.duration("timeout", data.get("timeout"), positive=True)
        default_timeout, default_retry = self.defaults(data.get("defaults"))
        drafts = [self.step(i, raw) for i, raw in self.step_list(data.get("steps"))]
        finals = [self.step(i, raw, "finally") for i, raw in self.finally_list(data.get("finally"))]
        self.graph(drafts + finals)
        endings.check(drafts, finals, self.add)
        outputs = data.get("outputs")
        if outputs is not None and not isinstance(outputs, dict):
            self.add("outputs", "must be a mapping of output names to values")
        self.templates("outputs", outputs, known=self.step_ids(drafts), needed=None)
        schedules = self.schedules(data.get("schedules"), inputs)
        retention = self.duration("retention", data.get("retention"))
        concurrency = exclusion.check_workflow(self.add, self.unknown_keys, data.get("concurrency"))
        budget = self.budget(data.get("budget"))
        if self.problems:
            raise WorkflowInvalid(sorted(self.problems, key=lambda p: p.line or 0))
        steps = []
        for draft in drafts + finals:
            fields = dict(draft.fields)
            if fields["timeout"] is None:
                fields["timeout"] = default_timeout
            fields["retry"] = RetryPolicy(**{**default_retry, **draft.retry})
            steps.append(Step(id=str(draft.id), needs=tuple(need for _, need in draft.needs), **fields))
        return Workflow(
            finally_=tuple(steps[len(drafts) :]),
            name=str(name),
            steps=tuple(steps[: len(drafts)]),
            description=description or "",
            inputs=inputs,
            timeout=timeout,
            outputs=outputs,
            schedules=tuple(schedules),
            retention=retention,
            concurrency=concurrency,
            budget=budget,
        )

    def name(self, value: Any) -> str | None:
        if value is None:
            self.add("name", "is required")
        elif not isinstance(value, str):
            self.add("name", "must be a string")
        elif not NAME.fullmatch(value) or len(value) > MAX_ID:
            self.add(
                "name",
                f"{value!r} is not a workflow name (lowercase letters, digits, - and _, "
                f"starting with a letter or digit, at most {MAX_ID} characters)",
            )
        else:
            return value
        return None

    def input_schema(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.add("inputs", "must be a JSON Schema (a mapping, e.g. {type: object, properties: ...})")
            return None
        from jsonschema import Draft202012Validator  # here: slow to import, and not needed to start

        meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
        for error in meta.iter_errors(value):
            path = "inputs"
            for part in error.absolute_path:
                path = f"{path}[{part}]" if isinstance(part, int) else join(path, part)
            self.add(path, f"invalid JSON Schema: {error.message}")
        return value

    def defaults(self, value: Any) -> tuple[float | None, dict[str, Any]]:
        if value is None:
            return None, {}
        if not isinstance(value, dict):
            self.add("defaults", "must be a mapping with timeout and/or retry")
            return None, {}
        self.unknown_keys("defaults", value, DEFAULTS_KEYS)
        # `retry.when` is checked by `retry` (it sees `error`, which nothing else does).
        self.templates("defaults", joins.without_retry_when(value), known=None, needed=None)
        timeout = self.duration("defaults.timeout", value.get("timeout"), positive=True)
        return timeout, self.retry("defaults.retry", value.get("retry"))

    def budget(self, value: Any) -> float | None:
        """``budget: {usd: N}``: what a run may spend on calls to models (`llm`)."""
        if value is None:
            return None
        if not isinstance(value, dict):
            self.add("budget", f"must be a mapping, e.g. {{usd: 5}}, not {_kind(value)}")
            return None
        self.unknown_keys("budget", value, BUDGET_KEYS)
        usd = value.get("usd")
        if usd is None:
            self.add("budget.usd", "is required: the USD a run may spend on llm calls")
        elif not _is_number(usd) or not 0 < usd <= MAX_BUDGET:
            self.add("budget.usd", f"must be a number of USD above 0 and at most {MAX_BUDGET:g}, not {usd!r}")
        else:
            return float(usd)
        return None

    # -- schedules ---------------------------------------------------------------------

    def schedules(self, value: Any, inputs: dict[str, Any] | None) -> list[Schedule]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add("schedules", f"must be a list of schedules, not {_kind(value)}")
            return []
        schedules: list[Schedule] = []
        first: dict[str, int] = {}
        for index, raw in enumerate(value):
            schedule = self.schedule(f"schedules[{index}]", index, raw, inputs)
            declared = str(raw.get("id", index)) if isinstance(raw, dict) else None
            if declared is not None and declared in first:
                self.add(
                    f"schedules[{index}].id",
                    f"duplicate schedule id {declared!r} (first used by schedules[{first[declared]}])",
                )
            elif declared is not None:
                first[declared] = index
            if schedule is not None:
                schedules.append(schedule)
        return schedules

    def schedule(self, base: str, index: int, raw: Any, inputs: dict[str, Any] | None) -> Schedule | None:
        if not isinstance(raw, dict):
            self.add(base, f"a schedule must be a mapping with cron or every, not {_kind(raw)}")
            return None
        before = len(self.problems)
        self.unknown_keys(base, raw, SCHEDULE_KEYS)
        schedule_id = raw.get("id", str(index))
        if not isinstance(schedule_id, str | int) or isinstance(schedule_id, bool):
            self.add(f"{base}.id", "must be a string")
        elif not STEP_ID.fullmatch(str(schedule_id)) or len(str(schedule_id)) > MAX_ID:
            self.add(
                f"{base}.id",
                f"{schedule_id!r} is not a schedule id (lowercase letters, digits and _, at most {MAX_ID})",
            )
        cron, every = raw.get("cron"), raw.get("every")
        if (cron is None) == (every is None):
            self.add(base, 'needs exactly one of cron (e.g. "30 2 * * *", @daily) and every (e.g. 10m)')
        if cron is not None and not isinstance(cron, str):
            self.add(
                f"{base}.cron", 'must be a string of five fields, e.g. "30 2 * * *", or @hourly/@daily/...'
            )
        elif cron is not None:
            self.check(f"{base}.cron", check_cron, cron)
        every_seconds = self.duration(f"{base}.every", every, positive=True)
        if every_seconds is not None and every_seconds < MIN_EVERY:
            self.add(f"{base}.every", f"must be at least {MIN_EVERY:g}s")
        timezone = raw.get("timezone", "UTC")
        if not isinstance(timezone, str):
            self.add(f"{base}.timezone", "must be an IANA time zone name, e.g. Europe/Berlin")
        else:
            self.check(f"{base}.timezone", zone, timezone)
        overlap = raw.get("overlap", "skip")
        if overlap not in OVERLAPS:
            self.add(f"{base}.overlap", f"{overlap!r} is not one of: {', '.join(OVERLAPS)}")
        window = self.duration(f"{base}.catchup_window", raw.get("catchup_window"))
        jitter = self.duration(f"{base}.jitter", raw.get("jitter"))
        run_input = raw.get("input")
        if run_input is not None and not isinstance(run_input, dict):
            self.add(f"{base}.input", f"must be a mapping (the run's input), not {_kind(run_input)}")
        elif run_input is not None or inputs is not None:
            try:
                apply_input(inputs, run_input or {})
            except InputInvalid as exc:
                for where, message in exc.problems:
                    self.add(f"{base}.input" + where.removeprefix("$"), f"{message} (checked against inputs)")
        if len(self.problems) > before:
            return None
        return Schedule(
            id=str(schedule_id),
            cron=cron.strip() if isinstance(cron, str) else None,
            every=every_seconds,
            timezone=timezone,
            input=run_input or {},
            overlap=overlap,
            catchup_window=DEFAULT_CATCHUP_WINDOW if window is None else window,
            jitter=jitter or 0.0,
        )

    def check(self, path: str, checker: Callable[[str], object], value: str) -> None:
        try:
            checker(value)
        except ScheduleError as exc:
            self.add(path, str(exc))

    # -- steps -------------------------------------------------------------------------

    def step_list(self, value: Any, section: str = "steps") -> list[tuple[int, dict[str, Any]]]:
        if value is None:
            self.add(section, "is required")
            return []
        if not isinstance(value, list):
            self.add(section, f"must be a list of steps, not {_kind(value)}")
            return []
        if not value:
            self.add(section, "must have at least one step")
        steps = []
        for index, raw in enumerate(value):
            if isinstance(raw, dict):
                steps.append((index, raw))
            else:
                self.add(
                    f"{section}[{index}]", f"a step must be a mapping with id and action, not {_kind(raw)}"
                )
        return steps

    def finally_list(self, value: Any) -> list[tuple[int, dict[str, Any]]]:
        """The workflow's `finally` steps (optional; `workflow.endings`)."""
        return [] if value is None else self.step_list(value, "finally")

    def step(self, index: int, raw: dict[str, Any], section: str = "steps") -> _StepDraft:
        base = f"{section}[{index}]"
        self.unknown_keys(base, raw, STEP_KEYS)
        step_id = self.step_id(base, raw.get("id"))
        action = raw.get("action")
        with_ = raw.get("with")
        if action is None:
            self.add(f"{base}.action", f"is required (one of: {', '.join(action_names())})")
        elif not isinstance(action, str):
            self.add(f"{base}.action", "must be the name of an action")
        else:
            issues = check_action(action, with_)
            if issues is None:
                self.add(f"{base}.action", f"unknown action {action!r} (known: {', '.join(action_names())})")
            for key, message in issues or ():
                self.add(join(f"{base}.with", key) if key else f"{base}.with", message)
        for_each = foreach.check(f"{base}.for_each", raw.get("for_each"), self.add)
        when = raw.get("when")
        if when is not None and not isinstance(when, bool | str):
            self.add(f"{base}.when", "must be true, false or a template")
        concurrency = raw.get("concurrency")
        if concurrency is not None:
            if not _is_int(concurrency) or not 1 <= concurrency <= foreach.MAX_ITEMS:
                self.add(
                    f"{base}.concurrency",
                    f"must be a whole number of at least 1 and at most {foreach.MAX_ITEMS}",
                )
            elif for_each is None:
                self.add(f"{base}.concurrency", "only applies to a step with for_each")
        outputs = raw.get("outputs")
        if outputs is not None and not isinstance(outputs, dict):
            self.add(f"{base}.outputs", "must be a mapping of output names to values")
        needs = self.needs(base, raw.get("needs"))
        trigger_rule = joins.check_trigger_rule(
            f"{base}.trigger_rule", raw.get("trigger_rule", "all_success"), len(needs), self.add
        )
        cancel_remaining = joins.check_cancel_remaining(
            f"{base}.cancel_remaining", raw.get("cancel_remaining", False), len(needs), self.add
        )
        continue_on_error = raw.get("continue_on_error", False)
        if not isinstance(continue_on_error, bool):
            self.add(f"{base}.continue_on_error", "must be true or false")
        on_lost = raw.get("on_lost", "retry")
        if on_lost not in ON_LOST:
            self.add(f"{base}.on_lost", f"{on_lost!r} is not one of: {', '.join(ON_LOST)}")
        return _StepDraft(
            index=index,
            id=step_id,
            section=section,
            needs=needs,
            retry=self.retry(f"{base}.retry", raw.get("retry")),
            fields={
                "action": action,
                "with_": with_ if isinstance(with_, dict) else {},
                "when": when,
                "for_each": for_each,
                "concurrency": concurrency,
                "timeout": self.duration(f"{base}.timeout", raw.get("timeout"), positive=True),
                "outputs": outputs,
                "trigger_rule": trigger_rule,
                "continue_on_error": continue_on_error,
                "on_lost": on_lost,
                "cancel_remaining": cancel_remaining,
                **cycles.check_step(base, raw, self.add, self.duration),
                "semaphore": exclusion.check_step(self.add, self.unknown_keys, base, raw),
                "artifacts": artifacts.check_step(base, raw, action, self.add),
            },
        )

    def step_id(self, base: str, value: Any) -> str | None:
        path = f"{base}.id"
        if value is None:
            self.add(path, "is required")
        elif not isinstance(value, str):
            self.add(path, "must be a string")
        elif not STEP_ID.fullmatch(value) or len(value) > MAX_ID:
            self.add(path, f"{value!r} is not a step id (lowercase letters, digits and _, at most {MAX_ID})")
        else:
            return value
        return None

    def needs(self, base: str, value: Any) -> list[tuple[str, str]]:
        path = f"{base}.needs"
        if value is None:
            return []
        if isinstance(value, str):
            return [(path, value)]
        if not isinstance(value, list):
            self.add(path, "must be a step id or a list of step ids")
            return []
        needs = []
        for position, need in enumerate(value):
            if isinstance(need, str):
                needs.append((f"{path}[{position}]", need))
            else:
                self.add(f"{path}[{position}]", f"must be a step id, not {_kind(need)}")
        return needs

    def retry(self, path: str, value: Any) -> dict[str, Any]:
        """The keys given (to be merged over defaults), each already in `RetryPolicy` form."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping with any of: {', '.join(RETRY_KEYS)}")
            return {}
        self.unknown_keys(path, value, RETRY_KEYS)
        policy: dict[str, Any] = {}
        attempts = value.get("max_attempts")
        if attempts is not None:
            if _is_int(attempts) and 1 <= attempts <= MAX_ATTEMPTS:
                policy["max_attempts"] = attempts
            else:
                self.add(
                    join(path, "max_attempts"),
                    f"must be a whole number of at least 1 and at most {MAX_ATTEMPTS}",
                )
        backoff = value.get("backoff")
        if backoff is not None:
            if backoff in BACKOFFS:
                policy["backoff"] = backoff
            else:
                self.add(
                    join(path, "backoff"), f"{backoff!r} is not a backoff (one of: {', '.join(BACKOFFS)})"
                )
        for key in ("delay", "max_delay"):
            seconds = self.duration(join(path, key), value.get(key))
            if seconds is not None:
                policy[key] = seconds
        jitter = value.get("jitter")
        if isinstance(jitter, bool):
            policy["jitter"] = 0.5 if jitter else 0.0
        elif isinstance(jitter, int | float) and 0 <= jitter <= 1:
            policy["jitter"] = float(jitter)
        elif jitter is not None:
            self.add(join(path, "jitter"), "must be true, false or a fraction from 0 to 1")
        if value.get("when") is not None:
            policy["when"] = joins.check_retry_when(join(path, "when"), value["when"], self.add)
        return policy

    def duration(self, path: str, value: Any, *, positive: bool = False) -> float | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                self.add(path, str(exc))
                return None
        elif _is_number(value):
            try:
                seconds = float(bounded(value, value))  # compared first: a huge int overflows a float
            except ValueError as exc:
                self.add(path, str(exc))
                return None
        else:
            self.add(path, f"must be a duration (e.g. 500ms, 30s, 5m, 2h), not {_kind(value)}")
            return None
        if seconds < 0:
            self.add(path, f"{value!r} is negative; a duration is 0 or more")
        elif positive and seconds == 0:
            self.add(path, "must be longer than 0")
        else:
            return seconds
        return None

    # -- across steps ------------------------------------------------------------------

    def step_ids(self, drafts: list[_StepDraft]) -> list[str]:
        return [draft.id for draft in drafts if draft.id is not None]

    def graph(self, drafts: list[_StepDraft]) -> None:
        """Unique ids, needs that exist, no cycles; then templates against each step's needs."""
        first: dict[str, str] = {}  # step id → where it is defined first
        for draft in drafts:
            if draft.id is None:
                continue
            if draft.id in first:
                self.add(
                    f"{draft.where}.id",
                    f"duplicate step id {draft.id!r} (first used by {first[draft.id]})",
                )
            else:
                first[draft.id] = draft.where
        edges: dict[str, list[str]] = {}
        for draft in drafts:
            valid: list[str] = []
            for path, need in draft.needs:
                if need == draft.id:
                    self.add(path, "a step cannot need itself")
                elif need not in first:
                    self.add(path, f"unknown step {need!r} (steps: {', '.join(first)})")
                elif need in valid:
                    self.add(path, f"{need!r} is listed twice")
                else:
                    valid.append(need)
            if draft.id is not None and first[draft.id] == draft.where:
                edges[draft.id] = valid
        for cycle in graph.find_cycles(edges):
            chain = " → ".join([*cycle, cycle[0]])
            self.add(f"{first[cycle[0]]}.needs", f"steps {chain} form a cycle (each needs the next)")
        for draft in drafts:
            needed = graph.ancestors(edges, draft.id) if draft.id is not None else set()
            needed |= endings.also_readable(draft.section, drafts)
            for key in ("with_", "when", "for_each", "outputs"):
                path = f"{draft.where}.{'with' if key == 'with_' else key}"
                self.templates(path, draft.fields[key], known=list(first), needed=(draft.id, needed))
            if (semaphore := draft.fields["semaphore"]) is not None:  # rendered as `with` is
                path = f"{draft.where}.{semaphore.where}"
                self.templates(path, semaphore.key, known=list(first), needed=(draft.id, needed))
            against_needs = functools.partial(self.templates, known=list(first), needed=(draft.id, needed))
            ancestors = graph.ancestors(edges, draft.id) if draft.id is not None else set()
            cycles.check_links(
                draft.where, draft.id, draft.fields, list(first), ancestors, self.add, against_needs
            )
            artifacts.check_from(draft.where, draft.id, draft.fields["with_"], first, needed, self.add)

    def templates(
        self,
        path: str,
        value: Any,
        *,
        known: Iterable[str] | None,
        needed: tuple[str | None, set[str]] | None,
    ) -> None:
        """Templates in ``value`` compile and name only known variables and steps.

        ``known``: the step ids (None: step references are not checked). ``needed``: the step
        the value belongs to and its transitive needs (None: any known step may be named).
        """
        broken = set()
        for relative, message in expressions.compile_problems(value):
            broken.add(relative)
            self.add(_within(path, relative), message)
        steps = list(known) if known is not None else None
        for relative, source in expressions.iter_templates(value):
            if relative in broken:
                continue
            where = _within(path, relative)
            for name in sorted(expressions.unknown_names(source)):
                self.add(where, f"unknown variable {name!r} (one of: {', '.join(expressions.CONTEXT_NAMES)})")
            if steps is None:
                continue
            for step in sorted(expressions.step_references(source)):
                if step not in steps:
                    self.add(where, f"steps.{step} is not a step (steps: {', '.join(steps)})")
                elif needed is not None and step == needed[0]:
                    self.add(where, f"steps.{step} is this step itself; its own result is `result`")
                elif needed is not None and step not in needed[1]:
                    self.add(where, f"steps.{step} is not a dependency of {needed[0]}; add it to needs")


def _within(path: str, relative: str) -> str:
    if not relative:
        return path
    return f"{path}{relative}" if relative.startswith("[") else f"{path}.{relative}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if _is_number(value):
        return "a number"
    return type(value).__name__

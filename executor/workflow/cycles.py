"""Steps that run more than once: `repeat` (a structured loop on one step) and `goto` (a
back-transition to a step this one depends on), as written and as checked at load.

    repeat: {until: "{{ result.json.state == 'done' }}", max: 30, delay: 10s, on_max: fail}
    goto: {step: build, when: "{{ not result.json.ok }}", max: 3}

Both are bounded by a required ``max``, so a loop always ends. Without a condition
(``until`` / ``when``) a `repeat` runs ``max`` times and a `goto` is taken ``max`` times: the
counted loop. With one, ``on_max`` says what reaching ``max`` with the condition still asking
for more means: ``fail`` (the default: the step fails saying so) or ``succeed``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from executor.workflow import expressions, graph
from executor.workflow.expressions import is_template

Add = Callable[[str, str], None]  # (path, message): the parser's way to report a problem
Duration = Callable[[str, Any], float | None]  # the parser's duration check
REPEAT_KEYS = ("until", "max", "delay", "on_max")
GOTO_KEYS = ("step", "when", "max", "on_max")
ON_MAX = ("fail", "succeed")
# Each iteration adds to the step's history (one row): a loop of more belongs in a child
# workflow started per batch, or in a schedule.
MAX_ITERATIONS = 1000
# Where `loop` may be read: the parts rendered once per iteration.
LOOP_PARTS = ("with", "outputs", "repeat")


@dataclass(frozen=True)
class Repeat:
    """Run the step again after it succeeded, until ``until`` holds or ``max`` iterations."""

    max: int
    until: Any = None  # a template (or literal bool) over `result` and `loop`; None: counted
    delay: float = 0.0  # seconds between an iteration's end and the next one's start
    on_max: str = "fail"

    def to_json(self) -> dict[str, Any]:
        return {"max": self.max, "until": self.until, "delay": self.delay, "on_max": self.on_max}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Repeat:
        return cls(
            max=data["max"],
            until=data.get("until"),
            delay=data.get("delay", 0.0),
            on_max=data.get("on_max", "fail"),
        )


@dataclass(frozen=True)
class Goto:
    """After the step succeeded, send the run back to ``step`` (an ancestor) while ``when``
    holds, at most ``max`` times."""

    step: str
    max: int
    when: Any = None  # a template (or literal bool) over `result`; None: counted
    on_max: str = "fail"

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "max": self.max, "when": self.when, "on_max": self.on_max}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Goto:
        return cls(
            step=data["step"], max=data["max"], when=data.get("when"), on_max=data.get("on_max", "fail")
        )


def check_step(base: str, raw: dict[str, Any], add: Add, duration: Duration) -> dict[str, Any]:
    """A step's ``repeat`` and ``goto`` (as `Step` fields), and where it reads ``loop``."""
    repeat = (
        None if raw.get("repeat") is None else check_repeat(f"{base}.repeat", raw["repeat"], add, duration)
    )
    goto = None if raw.get("goto") is None else check_goto(f"{base}.goto", raw["goto"], add)
    if raw.get("goto") is not None and raw.get("for_each") is not None:
        add(f"{base}.goto", "a for_each step cannot goto; put the goto on a step that needs this one")
    for part in ("with", "when", "for_each", "outputs", "repeat", "goto"):
        check_loop_reads(f"{base}.{part}", part, raw.get(part), raw.get("repeat") is not None, add)
    return {"repeat": repeat, "goto": goto}


def check_links(
    base: str,
    step_id: str | None,
    fields: dict[str, Any],
    known: list[str],
    ancestors: set[str],
    add: Add,
    templates: Callable[[str, Any], None],
) -> None:
    """Across steps: the goto's target, and the steps the conditions name (``templates``:
    the parser's check of templates against this step's needs)."""
    repeat, goto = fields.get("repeat"), fields.get("goto")
    if isinstance(repeat, Repeat):
        templates(f"{base}.repeat", {"until": repeat.until})
    if isinstance(goto, Goto):
        templates(f"{base}.goto", {"when": goto.when})
        if step_id is not None:
            check_target(f"{base}.goto", step_id, goto, known, ancestors, add)


def check_repeat(path: str, value: Any, add: Add, duration: Duration) -> Repeat | None:
    raw = _mapping(path, value, REPEAT_KEYS, 'e.g. {until: "{{ result.ready }}", max: 10, delay: 5s}', add)
    if raw is None:
        return None
    most = _max(f"{path}.max", raw.get("max"), add)
    until = _condition(f"{path}.until", raw.get("until"), add)
    on_max = _on_max(path, raw, "until", add)
    delay = duration(f"{path}.delay", raw.get("delay"))
    if most is None or on_max is None:
        return None
    return Repeat(max=most, until=until, delay=delay or 0.0, on_max=on_max)


def check_goto(path: str, value: Any, add: Add) -> Goto | None:
    raw = _mapping(path, value, GOTO_KEYS, 'e.g. {step: build, when: "{{ not result.ok }}", max: 3}', add)
    if raw is None:
        return None
    target = raw.get("step")
    if target is None:
        add(f"{path}.step", "is required (the id of a step this one depends on)")
    elif not isinstance(target, str):
        add(f"{path}.step", "must be a step id")
    most = _max(f"{path}.max", raw.get("max"), add)
    when = _condition(f"{path}.when", raw.get("when"), add)
    on_max = _on_max(path, raw, "when", add)
    if not isinstance(target, str) or most is None or on_max is None:
        return None
    return Goto(step=target, max=most, when=when, on_max=on_max)


def check_target(
    path: str, step_id: str, goto: Goto, known: list[str], ancestors: set[str], add: Add
) -> None:
    """A goto only goes back: to a step ``step_id`` depends on, through its needs."""
    where = f"{path}.step"
    if goto.step == step_id:
        add(where, "a step cannot go back to itself; use repeat to run one step again")
    elif goto.step not in known:
        add(where, f"unknown step {goto.step!r} (steps: {', '.join(known)})")
    elif goto.step not in ancestors:
        add(
            where,
            f"{goto.step!r} is not a step {step_id} depends on (through needs): a goto only goes back, "
            f"to a step that ran before this one",
        )


def check_loop_reads(path: str, part: str, value: Any, repeats: bool, add: Add) -> None:
    """``loop`` is read only where it is defined: in ``with``, ``outputs`` and ``repeat`` of a
    step with `repeat` (``when`` and ``for_each`` are rendered once, before the first iteration)."""
    broken = {relative for relative, _ in expressions.compile_problems(value)}
    for relative, source in expressions.iter_templates(value):
        if relative in broken or "loop" not in expressions.names_read(source):
            continue
        where = f"{path}{relative}" if relative.startswith("[") or not relative else f"{path}.{relative}"
        if not repeats:
            add(where, "loop is only defined in a step with repeat")
        elif part not in LOOP_PARTS:
            add(where, f"loop is not defined in {part}: it is rendered once, before the first iteration")


def _mapping(path: str, value: Any, keys: tuple[str, ...], example: str, add: Add) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        add(path, f"must be a mapping ({example})")
        return None
    for key in value:
        if key not in keys:
            add(f"{path}.{key}", f"unknown key (expected one of: {', '.join(keys)})")
    return value


def _max(path: str, value: Any, add: Add) -> int | None:
    if value is None:
        add(path, "is required: the most iterations, so that the loop always ends")
    elif not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ITERATIONS:
        add(path, f"must be a whole number from 1 to {MAX_ITERATIONS}")
    else:
        return value
    return None


def _condition(path: str, value: Any, add: Add) -> Any:
    if value is not None and not isinstance(value, bool) and not is_template(value):
        add(path, 'must be true, false or a template (e.g. "{{ result.exit_code == 0 }}")')
    return value


def _on_max(path: str, raw: dict[str, Any], condition: str, add: Add) -> str | None:
    on_max = raw.get("on_max", "fail")
    if on_max not in ON_MAX:
        add(f"{path}.on_max", f"{on_max!r} is not one of: {', '.join(ON_MAX)}")
        return None
    if "on_max" in raw and raw.get(condition) is None:
        add(
            f"{path}.on_max",
            f"applies only with {condition} (without it, reaching max is the loop's normal end)",
        )
    return str(on_max)


def region(needs: Mapping[str, Sequence[str]], target: str, source: str) -> set[str]:
    """What a goto from ``source`` back to ``target`` runs again: both, and every step that
    depends on ``target`` and that ``source`` depends on (the paths between them)."""
    between = {step for step in graph.ancestors(needs, source) if target in graph.ancestors(needs, step)}
    return {target, source, *between}

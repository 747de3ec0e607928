"""The workflow language's rules for `finally` steps and for `terminate` and `cancel` steps,
beyond what every step is checked for (the engine's side: `executor.engine.endings`).

- A finally step may need other finally steps, never a step of ``steps`` (they are all final
  when finally steps start), and a step of ``steps`` never needs a finally step. A finally
  step's templates may read every step of ``steps``, without needing it.
- ``run.status`` and ``run.error`` (how the run is about to end) exist in finally steps only.
- A `cancel` step names steps of its own section, other than itself.
- A `terminate` step has no for_each: it ends the run at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from executor.workflow import expressions

RUN_FIELDS = ("id", "workflow")
FINALLY_RUN_FIELDS = (*RUN_FIELDS, "status", "error")
TEMPLATED = (("with_", "with"), ("when", "when"), ("for_each", "for_each"), ("outputs", "outputs"))


class Draft(Protocol):
    """A step as the parser checks it (`parser._StepDraft`)."""

    @property
    def id(self) -> str | None: ...
    @property
    def section(self) -> str: ...
    @property
    def where(self) -> str: ...
    @property
    def needs(self) -> list[tuple[str, str]]: ...
    @property
    def fields(self) -> dict[str, Any]: ...


def also_readable(section: str, drafts: Sequence[Draft]) -> set[str]:
    """Steps a step of ``section`` may read in templates without needing them."""
    if section != "finally":
        return set()
    return {draft.id for draft in drafts if draft.section == "steps" and draft.id is not None}


def check(steps: Sequence[Draft], finals: Sequence[Draft], add: Callable[[str, str], None]) -> None:
    main_ids = {draft.id for draft in steps if draft.id is not None}
    final_ids = {draft.id for draft in finals if draft.id is not None}
    for draft in steps:
        for path, need in draft.needs:
            if need in final_ids and need not in main_ids:
                add(
                    path,
                    f"{need!r} is a finally step; a step of steps cannot need it (finally steps run last)",
                )
        _check_step(draft, main_ids, add)
    for draft in finals:
        for path, need in draft.needs:
            if need in main_ids and need not in final_ids:
                add(
                    path,
                    f"{need!r} is a step of steps; a finally step cannot need it (every step of steps "
                    f"is final when finally steps start: read steps.{need} without needing it)",
                )
        _check_step(draft, final_ids, add)


def _check_step(draft: Draft, section_ids: set[str], add: Callable[[str, str], None]) -> None:
    action = draft.fields.get("action")
    if action == "cancel":
        targets = draft.fields["with_"].get("steps")
        for index, target in enumerate(targets if isinstance(targets, list) else ()):
            path = f"{draft.where}.with.steps[{index}]"
            if target == draft.id:
                add(path, "a cancel step cannot cancel itself")
            elif isinstance(target, str) and target not in section_ids:
                known = ", ".join(sorted(section_ids))
                add(
                    path,
                    f"unknown step {target!r} (a cancel step in {draft.section} cancels one of: {known})",
                )
    if action == "terminate" and draft.fields.get("for_each") is not None:
        add(f"{draft.where}.for_each", "a terminate step ends the run at once; it has no for_each")
    import jinja2  # here, as in `expressions`: the service starts without it

    allowed = FINALLY_RUN_FIELDS if draft.section == "finally" else RUN_FIELDS
    for key, name in TEMPLATED:
        for relative, source in expressions.iter_templates(draft.fields.get(key)):
            try:
                fields = expressions.run_fields(source)
            except jinja2.TemplateSyntaxError:  # reported with the step's other templates
                continue
            for field in sorted(fields - set(allowed)):
                add(_within(f"{draft.where}.{name}", relative), _unknown_run_field(field, draft.section))


def _unknown_run_field(field: str, section: str) -> str:
    if field in FINALLY_RUN_FIELDS:
        return f"run.{field} is only known in finally steps (how the run is about to end)"
    return f"run has no {field!r} (it has: {', '.join(FINALLY_RUN_FIELDS if section == 'finally' else RUN_FIELDS)})"


def _within(path: str, relative: str) -> str:
    if not relative:
        return path
    return f"{path}{relative}" if relative.startswith("[") else f"{path}.{relative}"

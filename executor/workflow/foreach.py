"""`for_each`: the forms a step's items may take, checked at load and expanded at run time.

Three forms. A list and a template giving one are stored exactly as written (the digests of
workflows stored before the mapping form existed stay the same). The mapping form names one
*source* of items plus *modifiers*:

    for_each: {items: [a, b], fail_fast: true}
    for_each: {matrix: {os: [linux, mac], py: ["3.11", "3.12"]}, exclude: [...], include: [...]}

A source is an entry of `SOURCES`: the keys it allows beside its own, a check at load, and
how its rendered spec becomes the item list. A new source (items that arrive while the step
runs, say) is one more entry. Modifiers (`fail_fast`, `min_success`) apply to every source.

A matrix is stored with ``axes``, its axis names in the order written: PostgreSQL's jsonb
does not keep the order of a mapping's keys, and the order of the items must not depend on
the backend.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import Any

from executor.errors import ExecutorError
from executor.workflow.expressions import is_template

Add = Callable[[str, str], None]  # (path, message): the parser's way to report a problem
MODIFIERS = ("fail_fast", "min_success")
MAX_ITEMS = 100_000  # items of one for_each step


class ForEachError(ExecutorError):
    """A rendered `for_each` that gives no usable item list (the step fails with it)."""

    code = "for_each_invalid"


@dataclass(frozen=True)
class Source:
    keys: tuple[str, ...]  # the keys this source allows beside its own and the modifiers
    # Checks the mapping at load; returns the source's part of the stored form (None: invalid).
    check: Callable[[str, dict[str, Any], Add], dict[str, Any] | None]
    # The rendered stored form → the items (at most ``limit``).
    expand: Callable[[dict[str, Any], int], list[Any]]


@dataclass(frozen=True)
class Modifiers:
    """What changes how the items' outcomes make the step's (defaults: every item must succeed)."""

    fail_fast: bool = False
    min_success: int | None = None


def modifiers(for_each: Any) -> Modifiers:
    """The modifiers of a stored `for_each` (the list and template forms have none)."""
    if not isinstance(for_each, dict):
        return Modifiers()
    return Modifiers(bool(for_each.get("fail_fast", False)), for_each.get("min_success"))


# -- load time -------------------------------------------------------------------------


def check(path: str, value: Any, add: Add) -> Any:
    """``value`` checked (problems through ``add``), in its stored form."""
    if value is None or isinstance(value, list) or is_template(value):
        return value
    if not isinstance(value, dict):
        add(
            path,
            'must be a list, or a template giving one (e.g. "{{ inputs.hosts }}"), or a mapping ' + _FORMS,
        )
        return value
    named = [key for key in value if key in SOURCES]
    if len(named) != 1:
        add(
            path,
            f"needs exactly one of {', '.join(SOURCES)}" + (f" (has {', '.join(named)})" if named else ""),
        )
        return value
    source = SOURCES[named[0]]
    known = (named[0], *source.keys, *MODIFIERS)
    for key in value:
        if key not in known:
            add(f"{path}.{key}", f"unknown key (with {named[0]}: one of {', '.join(known)})")
    stored = source.check(path, value, add)
    if stored is None:
        return value
    fail_fast = value.get("fail_fast", False)
    if not isinstance(fail_fast, bool):
        add(f"{path}.fail_fast", "must be true or false")
    elif fail_fast:
        stored["fail_fast"] = True
    count = _literal_count(path, stored, add)
    minimum = value.get("min_success")
    if minimum is not None:
        stored["min_success"] = minimum
        _check_min_success(f"{path}.min_success", minimum, count, add)
    return stored


_FORMS = (
    "with one of items (a list or template), matrix (axis name → list or template) and "
    "signal (items that arrive as signals, until another)"
)


def _check_min_success(path: str, minimum: Any, count: int | None, add: Add) -> None:
    if not isinstance(minimum, int) or isinstance(minimum, bool) or not 1 <= minimum <= MAX_ITEMS:
        add(path, f"must be a whole number from 1 to {MAX_ITEMS}")
    elif count is not None and minimum > count:
        add(path, f"is {minimum}, but for_each gives only {count} item(s)")


def _literal_count(path: str, stored: dict[str, Any], add: Add) -> int | None:
    """How many items a spec without templates gives (None: known only once rendered)."""
    if signal_source(stored) is not None or any(is_template(v) for v in _leaves(stored)):
        return None
    try:
        return len(expand(stored, MAX_ITEMS))
    except ForEachError as exc:
        add(path, str(exc))
        return None


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _check_items(path: str, value: dict[str, Any], add: Add) -> dict[str, Any] | None:
    items = value["items"]
    if not isinstance(items, list) and not is_template(items):
        add(f"{path}.items", "must be a list or a template giving one")
        return None
    return {"items": items}


def _check_matrix(path: str, value: dict[str, Any], add: Add) -> dict[str, Any] | None:
    matrix = value["matrix"]
    if not isinstance(matrix, dict):
        add(f"{path}.matrix", "must be a mapping of axis names to lists (or templates giving lists)")
        return None
    ok = True
    for name, values in matrix.items():
        if not isinstance(values, list) and not is_template(values):
            add(f"{path}.matrix.{name}", "must be a list of values or a template giving one")
            ok = False
    stored: dict[str, Any] = {"matrix": matrix, "axes": list(matrix)}
    for key in ("include", "exclude"):
        entries = value.get(key)
        if entries is None:
            continue
        if not _check_entries(f"{path}.{key}", entries, list(matrix) if key == "exclude" else None, add):
            ok = False
        stored[key] = entries
    if not matrix and "include" not in value:
        add(f"{path}.matrix", "has no axes: give at least one, or include")
        ok = False
    return stored if ok else None


def _check_entries(path: str, entries: Any, axes: list[str] | None, add: Add) -> bool:
    """include/exclude: a list of mappings (or a template giving one); exclude names axes only."""
    if is_template(entries):
        return True
    if not isinstance(entries, list):
        add(path, "must be a list of mappings (axis name → value)")
        return False
    ok = True
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry:
            add(f"{path}[{index}]", "must be a mapping of axis names to values")
            ok = False
            continue
        for key in entry:
            if axes is not None and key not in axes:
                add(f"{path}[{index}].{key}", f"is not an axis of the matrix (axes: {', '.join(axes)})")
                ok = False
    return ok


# -- run time --------------------------------------------------------------------------


def expand(rendered: Any, limit: int = MAX_ITEMS) -> list[Any]:
    """The items of a rendered `for_each`; `ForEachError` when it gives none usable."""
    if isinstance(rendered, dict):
        source = next((SOURCES[key] for key in rendered if key in SOURCES), None)
        if source is None:  # a template that rendered to a mapping
            raise ForEachError("for_each must give a list, not dict")
        items = source.expand(rendered, limit)
    elif isinstance(rendered, list | tuple):
        items = list(rendered)
    else:
        raise ForEachError(f"for_each must give a list, not {type(rendered).__name__}")
    if len(items) > limit:
        raise ForEachError(f"for_each gave {len(items)} items; at most {limit}")
    minimum = modifiers(rendered).min_success
    if minimum is not None and len(items) < minimum:
        raise ForEachError(f"for_each gave {len(items)} items; min_success is {minimum}")
    return items


def _expand_items(rendered: dict[str, Any], limit: int) -> list[Any]:
    items = rendered["items"]
    if not isinstance(items, list | tuple):
        raise ForEachError(f"for_each.items must give a list, not {type(items).__name__}")
    return list(items)


def _expand_matrix(rendered: dict[str, Any], limit: int) -> list[Any]:
    """GitHub Actions' semantics: the product of the axes (first axis outermost), minus the
    combinations an ``exclude`` entry matches (all its values equal), then each ``include``
    entry extends every combination whose axis values it does not contradict (added keys
    may be overwritten by a later entry), or, extending none, is added as a combination."""
    matrix = rendered["matrix"]
    axes = [name for name in rendered.get("axes", list(matrix)) if name in matrix]
    lists = []
    for name in axes:
        values = matrix[name]
        if not isinstance(values, list | tuple):
            raise ForEachError(f"for_each.matrix.{name} must give a list, not {type(values).__name__}")
        lists.append(list(values))
    size = math.prod(len(values) for values in lists) if axes else 0
    if size > limit:
        raise ForEachError(f"for_each.matrix gives {size} combinations; at most {limit}")
    combos = [dict(zip(axes, values, strict=True)) for values in product(*lists)] if axes else []
    exclude = _entries(rendered, "exclude")
    combos = [combo for combo in combos if not any(_matches(combo, entry, entry) for entry in exclude)]
    added: list[dict[str, Any]] = []
    for entry in _entries(rendered, "include"):
        originals = {key: value for key, value in entry.items() if key in axes}
        hits = [combo for combo in combos if _matches(combo, entry, originals)]
        for combo in hits:
            combo.update(entry)
        if not hits:
            added.append(dict(entry))
    return combos + added


def _entries(rendered: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = rendered.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ForEachError(f"for_each.{key} must give a list of mappings")
    return entries


def _matches(combo: dict[str, Any], entry: dict[str, Any], keys: dict[str, Any]) -> bool:
    return all(key in combo and _same(combo[key], entry[key]) for key in keys)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 and true, 1 and "1" differ."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _check_signal(path: str, value: dict[str, Any], add: Add) -> dict[str, Any] | None:
    """Items that arrive while the step runs: one per signal ``signal``, until ``until``.
    Both names are literal: a signal must find its step without rendering anything."""
    stored: dict[str, Any] = {}
    for key in ("signal", "until"):
        name = value.get(key)
        if not isinstance(name, str) or not name or is_template(name):
            add(f"{path}.{key}" if key in value else path, f"{key}: must be a signal's name (not a template)")
        else:
            stored[key] = name
    if len(stored) < 2:
        return None
    if stored["signal"] == stored["until"]:
        add(f"{path}.until", f"must differ from signal ({stored['signal']!r})")
        return None
    return stored


def _expand_signal(rendered: dict[str, Any], limit: int) -> list[Any]:
    # The engine gives a signal source its items as the signals arrive (engine.signal_items).
    raise ForEachError("for_each.signal gives its items as signals arrive, not at once")


def signal_source(for_each: Any) -> tuple[str, str] | None:
    """``(signal, until)`` of a stored `for_each` whose items arrive as signals, else None."""
    if isinstance(for_each, dict) and "signal" in for_each:
        return str(for_each["signal"]), str(for_each["until"])
    return None


SOURCES: dict[str, Source] = {
    "items": Source(keys=(), check=_check_items, expand=_expand_items),
    "matrix": Source(keys=("include", "exclude"), check=_check_matrix, expand=_expand_matrix),
    "signal": Source(keys=("until",), check=_check_signal, expand=_expand_signal),
}

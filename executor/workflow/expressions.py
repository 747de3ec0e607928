"""Templates in workflow values: checking them at load time, rendering them at run time.

Templates come from whoever may submit a workflow, so they run in Jinja's immutable
sandbox (no dunder access, no mutation of the context) with strict undefined (a typo is
an error, not an empty string that would quietly ship to production).

The sandbox keeps a template from reaching Python, not from running long or growing big.
So each template is classified once, from its syntax tree (`is_bounded`): one made of
lookups, operators, literals and filters whose cost follows their input (no loops, no
macros, no calls but a few) renders here, as fast as ever; any other is rendered by a
worker process under a time and memory limit (`executor.render.renderer`). ``*`` and
``**`` are checked before they compute, so that ``'x' * 10**9`` fails at once anywhere.

A string that is exactly one ``{{ expr }}`` is evaluated as an expression and keeps its
type, so ``for_each: "{{ inputs.hosts }}"`` gives a list and ``"{{ inputs.replicas }}"``
an integer; any other template renders to a string.

Jinja2 is imported with the first template parsed or rendered (`sandbox`), not with this
module: a service starts serving before it needs it.
"""

from __future__ import annotations

import enum
import functools
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from types import GeneratorType
from typing import TYPE_CHECKING, Any

from executor.errors import ExpressionError

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes

MAX_CHARS = 8 * 1024 * 1024  # characters of a string one `*` may build
MAX_ITEMS = 1_000_000  # items of a list one `*` may build
MAX_BITS = 1 << 17  # bits of an integer one `*` or `**` may build (about 39,000 digits)


@functools.cache
def sandbox() -> jinja2.Environment:
    """The one environment templates are parsed and rendered in: Jinja's immutable sandbox,
    with ``*`` and ``**`` checked before they compute (and so never folded at compile time),
    so that no single operation builds a huge value."""
    import jinja2
    from jinja2.runtime import Context
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                _check_repeat(left, right)
            else:
                _check_power(left, right)
            return super().call_binop(context, operator, left, right)

    return Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


def _check_repeat(left: Any, right: Any) -> None:
    from jinja2.exceptions import SecurityError

    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(times, int):
            size, limit = len(sequence) * times, MAX_CHARS if isinstance(sequence, str) else MAX_ITEMS
            if size > limit:
                what = "characters" if isinstance(sequence, str) else "items"
                raise SecurityError(f"* would build {size:,} {what}; at most {limit:,}")
            return
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_BITS:
        raise SecurityError(f"* would build an integer of more than {MAX_BITS:,} bits")


def _check_power(base: Any, exponent: Any) -> None:
    from jinja2.exceptions import SecurityError

    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log2(abs(base)) > MAX_BITS
    ):
        raise SecurityError(f"** would build an integer of more than {MAX_BITS:,} bits")


# The names a template may use besides Jinja's globals (range, dict, ...).
CONTEXT_NAMES = ("inputs", "steps", "run", "schedule", "secrets", "item", "index", "result", "loop")
SECRET_PREFIX = "EXECUTOR_SECRET_"
# What a run that no schedule started sees as `schedule` (see `schedules.template_context`).
NO_SCHEDULE = {"id": None, "tick": None, "timestamp": None, "date": None, "previous_tick": None}

# One `{{ ... }}` and nothing around it; the inner part may not open or close another block.
_WHOLE_EXPRESSION = re.compile(r"\{\{-?((?:(?!\{\{|\}\}|\{%|\{#).)*?)-?\}\}", re.DOTALL)
_SEQUENCES: tuple[type[Iterable[Any]], ...] = (
    list,
    tuple,
    set,
    frozenset,
    range,
    GeneratorType,
    type({}.keys()),
    type({}.values()),
)
_SCALARS = (str, int, float, bool, type(None))


def is_template(value: Any) -> bool:
    """Whether ``value`` is a string holding a template, to be rendered at run time."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class _Missing(enum.Enum):
    MISSING = enum.auto()


Missing = _Missing.MISSING


def iter_templates(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every template string inside ``value`` as (relative path like ``a.b[2]``, template)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from iter_templates(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_templates(item, f"{path}[{index}]")
    elif is_template(value):
        yield path, value


@functools.lru_cache(maxsize=1024)
def parse(source: str) -> nodes.Template:
    return sandbox().parse(source)


def compile_problems(value: Any) -> list[tuple[str, str]]:
    """(relative path, message) for every template inside ``value`` that does not compile."""
    import jinja2

    problems = []
    for path, source in iter_templates(value):
        try:
            parse(source)
        except jinja2.TemplateSyntaxError as exc:
            problems.append((path, f"template does not compile: {exc.message}"))
    return problems


def step_references(source: str) -> set[str]:
    """Step ids a (compiling) template names as ``steps.X`` or ``steps['X']``."""
    from jinja2 import nodes

    found = set()
    tree = parse(source)
    for attr in tree.find_all(nodes.Getattr):
        if _is_steps(attr.node):
            found.add(attr.attr)
    for item in tree.find_all(nodes.Getitem):
        if _is_steps(item.node) and isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            found.add(item.arg.value)
    return found


def reads_steps(value: Any) -> bool:
    """Whether any template inside ``value`` reads ``steps`` (a run's step results)."""
    from jinja2 import meta

    return any(
        "steps" in meta.find_undeclared_variables(parse(source)) for _, source in iter_templates(value)
    )


def _is_steps(node: nodes.Node) -> bool:
    from jinja2 import nodes

    return isinstance(node, nodes.Name) and node.name == "steps"


def run_fields(source: str) -> set[str]:
    """Fields a (compiling) template reads of ``run`` (``run.status``, ``run['error']``)."""
    from jinja2 import nodes

    tree = parse(source)
    found = {attr.attr for attr in tree.find_all(nodes.Getattr) if _is_name(attr.node, "run")}
    for item in tree.find_all(nodes.Getitem):
        const = item.arg if isinstance(item.arg, nodes.Const) else None
        if _is_name(item.node, "run") and const is not None and isinstance(const.value, str):
            found.add(const.value)
    return found


def _is_name(node: nodes.Node, name: str) -> bool:
    from jinja2 import nodes

    return isinstance(node, nodes.Name) and node.name == name


@functools.lru_cache(maxsize=1024)
def names_read(source: str) -> frozenset[str]:
    """The names of the context a (compiling) template reads (``inputs``, ``steps``...)."""
    from jinja2 import meta

    return frozenset(meta.find_undeclared_variables(parse(source)))


def unknown_names(source: str) -> set[str]:
    """Variables a (compiling) template reads that no context provides (``input`` for ``inputs``)."""
    from jinja2 import meta

    return meta.find_undeclared_variables(parse(source)) - set(sandbox().globals) - set(CONTEXT_NAMES)


def build_context(
    *,
    inputs: Any,
    steps: Mapping[str, Mapping[str, Any]],
    run_id: str,
    workflow: str,
    secrets: Mapping[str, str],
    schedule: Mapping[str, Any] | None = None,
    item: Any = Missing,
    index: Any = Missing,
    result: Any = Missing,
    ending: Mapping[str, Any] | None = None,
    loop: Any = Missing,
) -> dict[str, Any]:
    """What templates see; ``item``/``index`` only in for_each steps, ``result`` only in
    outputs; ``schedule`` is `schedules.template_context`; ``ending`` (``status`` and
    ``error``: how the run is about to end) only in its `finally` steps, as ``run.*``;
    ``loop`` (``index``, ``previous``) only in `repeat` steps."""
    context: dict[str, Any] = {
        "inputs": inputs,
        "steps": {step_id: dict(state) for step_id, state in steps.items()},
        "run": {"id": run_id, "workflow": workflow, **(ending or {})},
        "schedule": dict(schedule or NO_SCHEDULE),
        "secrets": dict(secrets),
    }
    for name, value in (("item", item), ("index", index), ("result", result), ("loop", loop)):
        if value is not Missing:
            context[name] = value
    return context


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every template rendered here; raises `ExpressionError` naming the
    template. Unbounded templates are rendered by `renderer.Renderer` instead."""
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    if not is_template(value):
        return value
    return render_template(value, context)


def render_template(source: str, context: Mapping[str, Any], max_chars: int | None = None) -> Any:
    """One template rendered here: a whole expression keeps its type, anything else is a
    string (of at most ``max_chars`` characters, checked as it is produced)."""
    import jinja2

    try:
        whole = _WHOLE_EXPRESSION.fullmatch(source)
        if whole:
            return _plain(_expression(whole.group(1))(**context), jinja2.Undefined)
        if max_chars is None:
            return _template(source).render(**context)
        return _limited(_template(source).generate(**context), max_chars)
    except ExpressionError as exc:
        raise ExpressionError(f"{source}: {exc.message}") from exc
    except MemoryError:
        raise  # the worker's memory limit: reported as such, not as the template's fault
    except Exception as exc:  # a template can fail in any way the operations it uses can
        raise ExpressionError(f"{source}: {exc}") from exc


def _limited(chunks: Iterator[str], max_chars: int) -> str:
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_chars:
            raise ExpressionError(f"renders more than {max_chars:,} characters")
        parts.append(chunk)
    return "".join(parts)


@functools.lru_cache(maxsize=1024)
def _expression(source: str) -> Any:
    # undefined_to_none would turn a typo into None; we want StrictUndefined to fail.
    return sandbox().compile_expression(source, undefined_to_none=False)


@functools.lru_cache(maxsize=1024)
def _template(source: str) -> jinja2.Template:
    return sandbox().from_string(source)


def _plain(value: Any, undefined: type[jinja2.Undefined]) -> Any:
    """A JSON-like copy of an expression's value: ranges and generators become lists."""
    if isinstance(value, undefined):
        str(value)  # raises UndefinedError with Jinja's own explanation
    if isinstance(value, str):
        return str(value)  # drops Markup and other str subclasses
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        return {_plain(key, undefined): _plain(item, undefined) for key, item in value.items()}
    if isinstance(value, _SEQUENCES):
        return [_plain(item, undefined) for item in value]
    raise ExpressionError(f"gives a {type(value).__name__}, which is not a JSON value")


def is_true(value: Any) -> bool:
    """Whether a rendered ``when`` lets its step run: strings like "false" or "0" do not."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "no", "0", "")
    return bool(value)


def secrets_from_environ(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Secrets are given to the service as ``EXECUTOR_SECRET_<NAME>`` variables."""
    return {
        name[len(SECRET_PREFIX) :]: value
        for name, value in environ.items()
        if name.startswith(SECRET_PREFIX) and len(name) > len(SECRET_PREFIX)
    }


class Masker:
    """Replaces secret values with ``***`` in anything about to be stored, logged or returned."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        # Longest first, so that a secret containing another is masked whole.
        values = sorted({value for value in secrets.values() if value}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None
        self._encoded = [value.encode() for value in values]

    def safe_cut(self, data: bytes | bytearray, cut: int) -> int:
        """Where to cut ``data`` (UTF-8) at or before ``cut`` without splitting a secret:
        each piece of a long line is masked alone, and half a secret would stay readable.
        ``cut`` itself when no earlier place will do (a secret at the very start)."""
        moved = True
        safe = cut
        while moved:
            moved = False
            for secret in self._encoded:
                start = max(0, safe - len(secret) + 1)
                found = bytes(data[start : safe + len(secret) - 1]).find(secret)
                if found >= 0 and start + found < safe:
                    safe = start + found
                    moved = True
        return safe if safe > 0 else cut

    def mask(self, value: Any) -> Any:
        if self._pattern is None:
            return value
        return self._mask(value, self._pattern)

    def _mask(self, value: Any, pattern: re.Pattern[str]) -> Any:
        if isinstance(value, str):
            return pattern.sub("***", value)
        if isinstance(value, dict):
            return {self._mask(key, pattern): self._mask(item, pattern) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask(item, pattern) for item in value]
        return value

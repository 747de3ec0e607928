"""Which templates are bounded: cheap enough to render in the service's own process.

A template is **bounded** when its cost follows the size of what it reads: lookups
(``a.b``, ``a[0]``), literals, comparisons, boolean and arithmetic operators, ``{% if %}``,
``{% set %}``, ``range(...)`` and ``dict(...)`` (the sandbox caps a range at 100,000 items),
the filters and string methods listed below. It has no loop, macro, block, include, other
call or ``%`` formatting. ``*`` and ``**`` are allowed because the sandbox checks their result
before computing it (`expressions.sandbox`).

Filters that may grow their input by an argument (``join``, ``replace``, ``indent``,
``batch``, ``tojson``...) count as bounded only when every such argument is a short literal,
so that a result is at most a small multiple of the inputs. And growth does not compound:
an operation that grows its operands (``~`` and ``+`` double, those filters multiply by up
to 32) must not apply to the result of another, directly or through a ``{% set %}`` name
(``{% set a = a ~ a %}`` forty times is a terabyte); nor may those filters apply to a
``*`` or ``**`` (capped by the sandbox, but 32 times a cap is too much). Everything else is
**unbounded** and rendered by a worker process under a time and memory limit: it still
works, only slower (see `renderer.Renderer`).

The classification reads the syntax tree once per template (cached), never runs it.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from jinja2 import nodes

from executor.workflow.expressions import parse

# Filters whose arguments do not make their result grow: any bounded argument will do.
FREE_FILTERS = frozenset({
    "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "filesizeformat",
    "first", "float", "forceescape", "groupby", "int", "items", "last", "length", "list", "lower", "max",
    "min", "random", "reverse", "round", "safe", "sort", "string", "sum", "title", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount", "xmlattr",
})  # fmt: skip
# Filters whose result may grow with an argument: bounded when every argument is a short literal.
LITERAL_FILTERS = frozenset({"batch", "center", "indent", "join", "replace", "slice", "tojson"})
# Filters that apply another filter or a test named by their first argument.
_APPLYING = frozenset({"map", "select", "reject", "selectattr", "rejectattr"})
# Methods of strings and mappings whose result is no larger than their object.
METHODS = frozenset({
    "capitalize", "count", "endswith", "find", "get", "items", "keys", "lower", "lstrip", "rsplit",
    "rstrip", "split", "splitlines", "startswith", "strip", "title", "upper", "values",
})  # fmt: skip
CALLS = frozenset({"range", "dict"})
SHORT = 32  # characters of a short literal string, and the largest short literal number
_TESTS = frozenset(jinja2.Environment().tests)
# Keyword arguments that name or default a value rather than size the result.
_NAMING = frozenset({"attribute", "default", "case_sensitive"})

_PLAIN = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.Const, nodes.List, nodes.Tuple,
    nodes.Dict, nodes.Pair, nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Compare, nodes.Operand,
    nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.CondExpr, nodes.Concat, nodes.Add,
    nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Pow, nodes.Keyword,
)  # fmt: skip


@functools.lru_cache(maxsize=4096)
def is_bounded(source: str) -> bool:
    """Whether template ``source`` may render in the service's process (see the module)."""
    try:
        tree = parse(source)
    except jinja2.TemplateSyntaxError:
        return True  # fails at once, wherever it is rendered
    return _bounded(tree) and _growth_does_not_compound(tree)


_CAPPED = (nodes.Mul, nodes.Pow)  # the sandbox checks their result's size


def _multiplies(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Filter) and node.name in LITERAL_FILTERS


def _grows(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Concat | nodes.Add) or _multiplies(node)


def _growth_does_not_compound(tree: nodes.Template) -> bool:
    """No growing operation reads the result of another (see the module)."""
    assigns = [node for node in tree.find_all(nodes.Assign) if isinstance(node.target, nodes.Name)]
    grown: set[str] = set()  # names set from a grown value (order ignored: conservative)
    changed = True
    while changed:
        changed = False
        for assign in assigns:
            name = assign.target.name  # type: ignore[attr-defined]
            if name not in grown and _has_growth(assign.node, grown, capped=True):
                grown.add(name)
                changed = True
    return not any(
        _grows(node)
        and any(_has_growth(child, grown, capped=_multiplies(node)) for child in node.iter_child_nodes())
        for node in tree.find_all(nodes.Expr)
    )


def _has_growth(node: nodes.Node, grown: set[str], *, capped: bool) -> bool:
    """Whether ``node`` grows anything (with ``capped``: or is a ``*``/``**``) or reads a
    grown name, itself or below."""
    if _grows(node) or (capped and isinstance(node, _CAPPED)):
        return True
    if isinstance(node, nodes.Name) and node.name in grown:
        return True
    return any(_has_growth(child, grown, capped=capped) for child in node.iter_child_nodes())


def _bounded(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Name):
        return node.ctx == "load"
    if isinstance(node, nodes.Assign):
        return isinstance(node.target, nodes.Name) and _bounded(node.node)
    if isinstance(node, nodes.Filter):
        return _filter(node)
    if isinstance(node, nodes.Test):
        return node.name in _TESTS and _call_parts(node) and _bounded(node.node) and _arguments(node)
    if isinstance(node, nodes.Call):
        return _call(node)
    if isinstance(node, _PLAIN):
        return _children(node)
    return False  # loops, macros, blocks, includes, `%` formatting, ...


def _children(node: nodes.Node) -> bool:
    return all(_bounded(child) for child in node.iter_child_nodes())


def _call_parts(node: nodes.Call | nodes.Filter | nodes.Test) -> bool:
    """No ``*args`` or ``**kwargs``: what a call receives is visible in the tree."""
    return node.dyn_args is None and node.dyn_kwargs is None


def _call(node: nodes.Call) -> bool:
    if not _call_parts(node):
        return False
    callee = node.node
    if isinstance(callee, nodes.Name) and callee.name in CALLS:
        return _children(node)
    if isinstance(callee, nodes.Getattr) and callee.attr in METHODS:
        return _children(node)
    return False


def _filter(node: nodes.Filter) -> bool:
    if node.node is None or not _call_parts(node) or not _bounded(node.node):
        return False
    if node.name in FREE_FILTERS:
        return _arguments(node)
    if node.name in LITERAL_FILTERS:
        return _short_arguments(node.args, node.kwargs)
    if node.name in _APPLYING:
        return _applying(node)
    return False


def _applying(node: nodes.Filter) -> bool:
    """``map('lower')``, ``map(attribute='x')``, ``select('odd')``, ``selectattr('x', 'eq', 1)``."""
    if node.name == "map":
        if not node.args:  # map(attribute='x', default=...)
            return all(keyword.key in _NAMING and _bounded(keyword.value) for keyword in node.kwargs)
        return _names(node.args[0], FREE_FILTERS | LITERAL_FILTERS) and _short_arguments(
            node.args[1:], node.kwargs
        )
    position = 1 if node.name.endswith("attr") else 0
    if len(node.args) > position and not _names(node.args[position], _TESTS):
        return False
    return _arguments(node)


def _names(node: nodes.Expr, allowed: frozenset[str]) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, str) and node.value in allowed


def _arguments(node: nodes.Filter | nodes.Test) -> bool:
    return all(_bounded(arg) for arg in node.args) and all(_bounded(kw.value) for kw in node.kwargs)


def _short_arguments(args: list[nodes.Expr], kwargs: list[Any]) -> bool:  # Keyword nodes
    return all(_short(arg) for arg in args) and all(
        _bounded(keyword.value) if keyword.key in _NAMING else _short(keyword.value) for keyword in kwargs
    )


def _short(node: nodes.Node) -> bool:
    if not isinstance(node, nodes.Const):
        return False
    value: Any = node.value
    if isinstance(value, str):
        return len(value) <= SHORT
    if isinstance(value, int | float):
        return abs(value) <= SHORT
    return value is None

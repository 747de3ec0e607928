"""Warnings about workflows that are valid but risky: outside values pasted into shell code.

A `shell` step's ``command`` given as a string is a script for ``/bin/sh -c``. A template
in it that renders a value from outside the workflow (a run's ``inputs``, another step's
output, which is also where signal payloads and child runs' outputs arrive, or a
``for_each`` ``item`` taken from those) makes that value part of the script: a value with
``;``, ``$(...)`` or a quote in it runs as shell code. It is the script-injection hole CI
systems are known for. The safe forms pass the value as data: an item of an argv list
(``command: [prog, "{{ inputs.x }}"]``, no shell), or an ``env`` variable that the script
quotes (``"$X"``). An argv list that runs a shell with ``-c`` is checked like a string.

The check reads each template's syntax tree (never its text), follows values through
``{% set %}``, ``{% for %}`` and ``{% with %}``, and counts only what reaches the rendered
text and can carry code: not a value used in a condition (``{% if inputs.verbose %}``), a
number (``| int``, ``| length``, ``range(...)``), a boolean (comparisons, tests), a step's
``status``, nor an input whose schema makes it a number or a boolean, or one of the
author's own values (``enum``, ``const``): a run's input is checked before it starts.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from executor.errors import Problem
from executor.workflow import expressions
from executor.workflow.model import Step, Workflow
from executor.workflow.source import load_yaml, parent

if TYPE_CHECKING:
    from jinja2 import nodes

# Where values from outside the workflow are found ("item": only when for_each reads them;
# "loop": `loop.previous` is the step's own previous output).
OUTSIDE = frozenset({"inputs", "steps", "loop"})
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash"})
# Filters and functions whose value is a number, whatever they are given.
NUMERIC_FILTERS = frozenset({"int", "float", "length", "count", "abs", "round", "wordcount"})
NUMERIC_CALLS = frozenset({"range"})
# JSON Schema types whose values render as no shell code.
PLAIN_TYPES = frozenset({"integer", "number", "boolean", "null"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

ADVICE = 'pass it as an item of an argv list (command: [prog, ...], no shell), or in env, quoted in the script ("$NAME")'

# A lookup: the name it starts from, then each key (None: one not known before rendering).
Lookup = tuple[str, tuple[str | int | None, ...]]


def lint(workflow: Workflow, *, source: str | None = None, filename: str | None = None) -> list[Problem]:
    """Warnings about ``workflow``, in step order; ``source``, the YAML it was parsed from,
    gives them lines (read again only when there is something to warn about)."""
    found = [
        finding
        for section, steps in (("steps", workflow.steps), ("finally", workflow.finally_))
        for index, step in enumerate(steps)
        for finding in _step(f"{section}[{index}]", step, workflow.inputs or {})
    ]
    if not found:
        return []
    lines = load_yaml(source, filename).lines if source is not None else {}
    return [Problem(path, _line(lines, path), message, filename) for path, message in found]


def as_line(warning: Problem) -> str:
    """``file:line: warning: path: message``, as a compiler puts it."""
    where = ":".join(str(part) for part in (warning.file, warning.line) if part)
    return f"{where + ': ' if where else ''}warning: {warning.path}: {warning.message}"


def _line(lines: Mapping[str, int], path: str) -> int | None:
    while path not in lines:
        if not path:
            return None
        path = parent(path)
    return lines[path]


def _step(where: str, step: Step, schema: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if step.action != "shell":
        return
    outside = set(OUTSIDE)
    if step.for_each is not None and any(
        _Template(source, OUTSIDE, schema).references()
        for _, source in expressions.iter_templates(step.for_each)
    ):
        outside.add("item")
    path = f"{where}.with.command"
    command = step.with_.get("command")
    if isinstance(command, str):
        scripts = [(path, command)]
    elif isinstance(command, list):
        scripts = [(f"{path}[{at}]", command[at]) for at in _shell_script(command)]
    else:
        scripts = []
    for where, script in scripts:
        references = (
            _Template(script, outside, schema).references() if expressions.is_template(script) else []
        )
        if references:
            named = f"{references[0]} is" if len(references) == 1 else f"{', '.join(references)} are"
            yield (
                where,
                f"{named} pasted into a shell script, where a value with ;, $(...) or a quote in it "
                f"runs as code: {ADVICE}",
            )


def _shell_script(argv: list[Any]) -> list[int]:
    """The index of the script in an argv list that runs a shell with ``-c`` (else none)."""
    words = [word if isinstance(word, str) else "" for word in argv]
    at = 0
    if words and posixpath.basename(words[0]) == "env":  # env [-i] [NAME=value ...] sh -c ...
        at = 1
        while at < len(words) and (words[at].startswith("-") or "=" in words[at]):
            at += 1
    if at >= len(words) or posixpath.basename(words[at]) not in SHELLS:
        return []
    takes_script, position = False, at + 1
    while position < len(words):
        word = words[position]
        if word.startswith("--"):  # `--`, `--norc`; `--rcfile FILE` takes a value
            position += 2 if word in ("--rcfile", "--init-file") else 1
        elif word.startswith(("-", "+")) and word != "-":
            takes_script = takes_script or (word.startswith("-") and "c" in word[1:])
            # `-o pipefail`, `-O extglob`: the option's value is the next word.
            position += 2 if word[-1] in "oO" else 1
        else:
            return [position] if takes_script else []
    return []


class _Template:
    """One template, and the outside values that reach what it renders."""

    def __init__(self, source: str, outside: Collection[str], schema: dict[str, Any]) -> None:
        self.source = source
        self.tainted = set(outside)
        self.schema = schema

    def references(self) -> list[str]:
        """The outside values (``inputs.host``, ``steps.fetch.output``) that reach what the
        template renders, sorted; none for a template that does not compile."""
        import jinja2  # here, as in `expressions`: the service starts without it
        from jinja2 import nodes

        try:
            tree = expressions.parse(self.source)
        except jinja2.TemplateSyntaxError:  # the parser reports it
            return []
        self._follow_bindings(tree)
        if any(isinstance(node, nodes.Macro | nodes.CallBlock) for node in tree.find_all(nodes.Stmt)):
            # Values flow through macro arguments: count any outside value the template reads.
            reached: list[nodes.Node] = [tree]
        else:
            reached = [part for output in tree.find_all(nodes.Output) for part in output.nodes]
        found: set[str] = set()
        for node in reached:
            found |= self._carried(node)
        return sorted(found)

    def _follow_bindings(self, tree: nodes.Template) -> None:
        """Taint every name a ``set``, ``for`` or ``with`` gives an outside value (to a fixed
        point: a name may pass its value on to another)."""
        from jinja2 import nodes

        bindings: list[tuple[nodes.Node, nodes.Node]] = []
        for node in tree.find_all((nodes.Assign, nodes.AssignBlock, nodes.For, nodes.With)):
            if isinstance(node, nodes.Assign):
                bindings.append((node.target, node.node))
            elif isinstance(node, nodes.AssignBlock):
                bindings.extend(
                    (node.target, part) for output in node.find_all(nodes.Output) for part in output.nodes
                )
            elif isinstance(node, nodes.For):
                bindings.append((node.target, node.iter))
            elif isinstance(node, nodes.With):
                bindings.extend(zip(node.targets, node.values, strict=False))
        changed = True
        while changed:
            changed = False
            for target, value in bindings:
                names = {name.name for name in target.find_all(nodes.Name)}
                if isinstance(target, nodes.Name):
                    names.add(target.name)
                if not names <= self.tainted and self._carried(value):
                    self.tainted |= names
                    changed = True

    def _carried(self, node: nodes.Node) -> set[str]:
        """The outside lookups whose value can reach the value of expression ``node``
        (conditions, numbers and booleans carry none), each as far as it goes."""
        from jinja2 import nodes

        if isinstance(node, nodes.TemplateData | nodes.Const | nodes.Test | nodes.Compare | nodes.Not):
            return set()
        if isinstance(node, nodes.Filter) and node.name in NUMERIC_FILTERS:
            return set()
        if (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Name)
            and node.node.name in NUMERIC_CALLS
        ):
            return set()
        if isinstance(node, nodes.CondExpr):
            return self._carried(node.expr1) | (
                self._carried(node.expr2) if node.expr2 is not None else set()
            )
        lookup = _lookup(node)
        if lookup is None:
            children = list(node.iter_child_nodes())
            return set().union(*(self._carried(child) for child in children)) if children else set()
        found = set()
        if lookup[0] in self.tainted and not self._plain(lookup):
            found.add(_dotted(lookup))
        if isinstance(node, nodes.Getitem):  # `x[inputs.key]`: the key may be outside too
            found |= self._carried(node.arg)
        return found

    def _plain(self, lookup: Lookup) -> bool:
        """Whether the value of ``lookup`` can carry no shell code: a step's status, or an
        input that its schema makes a number, a boolean or one of a few plain words."""
        name, keys = lookup
        if name == "steps":
            return len(keys) == 2 and keys[1] == "status"
        if name == "loop":  # `loop.index` is a number
            return keys == ("index",)
        if name != "inputs":
            return False
        schema: Any = self.schema
        for key in keys:
            if not isinstance(schema, dict):
                return False
            if isinstance(key, str):
                schema = schema.get("properties", {}).get(key)
            elif isinstance(key, int):
                schema = schema.get("items")
            else:
                return False
        return _plain_schema(schema)


def _plain_schema(schema: Any) -> bool:
    """Whether a value valid against ``schema`` is the author's (an ``enum`` or ``const``)
    or renders as a number, a boolean or nothing."""
    if not isinstance(schema, dict):
        return False
    if "enum" in schema or "const" in schema:
        return True
    types = schema.get("type")
    types = [types] if isinstance(types, str) else types
    return isinstance(types, list) and bool(types) and all(t in PLAIN_TYPES for t in types)


def _lookup(node: nodes.Node) -> Lookup | None:
    """``inputs.a[0]['b']`` as ("inputs", ("a", 0, "b")); None for anything but lookups on a name."""
    from jinja2 import nodes

    if isinstance(node, nodes.Name):
        return str(node.name), ()
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        base = _lookup(node.node)
        if base is None:
            return None
        if isinstance(node, nodes.Getattr):
            key: str | int | None = str(node.attr)
        else:
            value = node.arg.value if isinstance(node.arg, nodes.Const) else None
            key = value if isinstance(value, str | int) and not isinstance(value, bool) else None
        return base[0], (*base[1], key)
    return None


def _dotted(lookup: Lookup) -> str:
    """``inputs.a[0].b`` (``[...]``: a key known only when it renders)."""
    text = lookup[0]
    for key in lookup[1]:
        if isinstance(key, str) and _IDENTIFIER.fullmatch(key):
            text += f".{key}"
        else:
            text += "[...]" if key is None else f"[{key!r}]"
    return text

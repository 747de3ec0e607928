"""YAML text to plain values, remembering the line each value came from.

PyYAML's ``safe_load`` drops positions, yet a user fixing a workflow wants the line. So we
compose the node tree (safe loader: no Python tags are ever constructed) and convert it
ourselves, recording ``path → line`` on the way. The same walk catches what ``safe_load``
lets through silently: a key written twice, and alias expansion that would blow up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from executor.errors import Problem
from executor.nesting import MAX_DEPTH

MAX_BYTES = 1024 * 1024
# Aliases let a small document expand into a huge one ("billion laughs"); counting values
# as they are converted stops that long before memory runs out.
MAX_VALUES = 100_000
TOO_DEEP = f"the document is nested deeper than {MAX_DEPTH} levels of lists and mappings"

_JSON_SCALARS = (str, int, float, bool, type(None))
_MAP_TAGS = ("tag:yaml.org,2002:map",)
_SEQ_TAGS = ("tag:yaml.org,2002:seq",)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parent(path: str) -> str:
    return path[: max(path.rfind("."), path.rfind("["), 0)]


@dataclass
class Source:
    data: Any = None
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


class _TooLarge(Exception):
    pass


class _TooDeep(Exception):
    pass


def load_yaml(text: str, filename: str | None = None) -> Source:
    """Plain values of one YAML document, its line map, and the problems found reading it."""
    source = Source()
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        source.problems.append(Problem("", None, f"the document is larger than {MAX_BYTES} bytes", filename))
        return source
    try:
        # The reader refuses control characters already here, before any parsing.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        source.problems.append(Problem("", None, str(exc).strip().splitlines()[0], filename))
        return source
    try:
        node = loader.get_single_node()
        if node is None:
            source.problems.append(Problem("", 1, "the document is empty", filename))
            return source
        source.lines[""] = node.start_mark.line + 1
        source.data = _Converter(loader, source, filename).convert(node, "")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or "invalid YAML"
        if exc.context:
            message = f"{message} ({exc.context})"
        source.problems.append(Problem("", mark.line + 1 if mark else None, message, filename))
    except yaml.YAMLError as exc:
        source.problems.append(Problem("", None, str(exc), filename))
    except _TooLarge:
        source.problems.append(
            Problem("", None, f"the document expands to more than {MAX_VALUES} values", filename)
        )
    except (_TooDeep, RecursionError):
        source.problems.append(Problem("", None, TOO_DEEP, filename))
    finally:
        loader.dispose()
    if not source.problems and not is_unicode(source.data):
        source.data = None  # nothing of it is worth checking further
        source.problems.append(
            Problem("", None, "the document has text that is not valid Unicode (a lone surrogate)", filename)
        )
    return source


def is_unicode(value: Any) -> bool:
    """Whether every string in ``value`` can be stored: ``"\\ud800"`` escapes (in YAML or
    JSON) produce lone surrogates, which no UTF-8 database column accepts."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, source: Source, filename: str | None) -> None:
        self.loader = loader
        self.source = source
        self.filename = filename
        self.count = 0
        self.depth = 0

    def problem(self, path: str, line: int, message: str) -> None:
        self.source.problems.append(Problem(path, line, message, self.filename))

    def convert(self, node: yaml.Node, path: str) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooLarge
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.CollectionNode):
            return self.scalar(node, path, line)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep
        try:
            return self.collection(node, path, line)
        finally:
            self.depth -= 1

    def collection(self, node: yaml.CollectionNode, path: str, line: int) -> Any:
        if isinstance(node, yaml.MappingNode):
            if node.tag not in _MAP_TAGS:
                self.problem(path, line, f"the tag {_short(node.tag)} is not supported")
            return self.mapping(node, path)
        if node.tag not in _SEQ_TAGS:
            self.problem(path, line, f"the tag {_short(node.tag)} is not supported")
        items = []
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            self.source.lines[child] = item.start_mark.line + 1
            items.append(self.convert(item, child))
        return items

    def mapping(self, node: yaml.MappingNode, path: str) -> dict[str, Any]:
        own = {id(key) for key, _ in node.value}
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        result: dict[str, Any] = {}
        owned: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(path, line, "keys must be plain text, not a list or a mapping")
                continue
            # The text as written: YAML 1.1 would make `on:` the boolean true and `1:` a number.
            key = key_node.value
            child = join(path, key)
            if id(key_node) in own:
                if key in owned:
                    first = self.source.lines.get(child)
                    self.problem(child, line, f"duplicate key {key!r} (first on line {first})")
                    continue
                owned.add(key)
            # A key merged from an anchor is overridden by the mapping's own key, later wins.
            self.source.lines[child] = line
            result[key] = self.convert(value_node, child)
        return result

    def scalar(self, node: yaml.Node, path: str, line: int) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(path, line, getattr(exc, "problem", None) or str(exc))
            return None
        if isinstance(value, bool) and node.value.lower() not in ("true", "false"):
            # YAML 1.2: only true and false are booleans; `yes`, `no`, `on`, `off` stay text
            # (YAML 1.1 would turn a header value `yes` into True).
            return node.value
        if not isinstance(value, _JSON_SCALARS):
            # Timestamps and the like: keep the text, as a JSON body would have sent it.
            return node.value
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(path, line, f"{node.value!r} is not a finite number")
            return None
        return value


def _short(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!", 1)

"""The start-run form, generated from a workflow's input JSON Schema.

One field per top-level property: a string is a text box, an enum a select, an integer or a
number a number box, a boolean a checkbox, anything else (objects, arrays, unions, ``$ref``)
a JSON text area. The form only turns what was typed into a JSON value: whether the value is
valid is the engine's decision (`executor.workflow.inputs`), and its errors, located by JSON
path, are placed back next to the fields they name (`place`).

What cannot be converted is passed on as typed (``"abc"`` for an integer) so that the schema's
own message names the problem; only text that is not JSON at all is refused here. JSON text is
read as the API reads a body (`executor.http.body.parse_json`): no lone surrogate, no nesting
deeper than the run request would allow around it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from executor.http import body
from executor.http.problems import ClientError
from executor.nesting import MAX_DEPTH

PREFIX = "input."
"""Form field names are the property names behind this prefix (``input.replicas``)."""

RAW = "raw"
"""The text area holding the whole input as JSON (the form's other mode)."""

GENERAL = ""
"""The key of errors that no field owns, in the errors `place` returns."""

SCALARS = (str, int, float, bool, type(None))

# The input sits one level inside the run request (``{"input": ...}``), a field's value two
# (``{"input": {"name": ...}}``): what the API's limit on the request's depth leaves them.
INPUT_DEPTH = MAX_DEPTH - 1
FIELD_DEPTH = MAX_DEPTH - 2


async def read_form(request: Request) -> dict[str, str]:
    """A plain form's fields (``application/x-www-form-urlencoded``, what the dashboard's
    forms send), the last value of each name; blank values kept. The guard has read the
    body already (and capped its size) to check the CSRF token."""
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


@dataclass(frozen=True)
class Field:
    """One input of the form, for one property of the schema."""

    name: str  # the property
    index: int  # its position: the element ids (`id`) use it, property names may be anything
    kind: str  # text | select | integer | number | checkbox | json
    label: str
    help: str = ""
    required: bool = False
    default: Any = None
    has_default: bool = False
    # select: (value sent, text shown); the value is the option's JSON.
    options: tuple[tuple[str, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def key(self) -> str:
        return PREFIX + self.name

    @property
    def id(self) -> str:
        return f"input-{self.index}"

    def initial(self) -> str:
        """The field's text before anything was typed: its default, if the schema gives one."""
        if not self.has_default:
            return ""
        return _text(self.kind, self.default)


def _text(kind: str, value: Any) -> str:
    if kind == "checkbox":
        return "on" if value is True else ""
    if kind == "select":
        return json.dumps(value)
    if kind == "text" and isinstance(value, str):
        return value
    if kind in ("integer", "number") and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False)


def fields(schema: Any) -> list[Field]:
    """The form's fields for an input schema; none when the schema is not an object with
    ``properties`` (then the JSON text area is the form)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    if schema.get("type", "object") != "object":
        return []
    required = schema.get("required")
    wanted = set(required) if isinstance(required, list) else set()
    return [
        _field(str(name), index, prop, str(name) in wanted)
        for index, (name, prop) in enumerate(schema["properties"].items())
    ]


def _field(name: str, index: int, prop: Any, required: bool) -> Field:
    if not isinstance(prop, dict):
        prop = {}  # `true` (anything goes) or something stranger: JSON
    title, description = prop.get("title"), prop.get("description")
    label = title if isinstance(title, str) and title else name
    common: dict[str, Any] = {
        "name": name,
        "index": index,
        "label": label,
        "help": description if isinstance(description, str) else "",
        "required": required,
        "default": prop.get("default"),
        "has_default": "default" in prop,
    }
    kind = _kind(prop)
    if kind == "select":
        common["options"] = tuple((json.dumps(value), _option_text(value)) for value in prop["enum"])
    if kind in ("integer", "number"):
        common["minimum"] = _bound(prop.get("minimum"))
        common["maximum"] = _bound(prop.get("maximum"))
    return Field(kind=kind, **common)


def _kind(prop: dict[str, Any]) -> str:
    enum = prop.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(value, SCALARS) for value in enum):
        return "select"
    # Combinators and references can allow any shape: only JSON can say what is meant.
    if any(key in prop for key in ("$ref", "anyOf", "oneOf", "allOf", "not", "if", "const")):
        return "json"
    kind = prop.get("type")
    if isinstance(kind, list) and len(kind) == 1:
        kind = kind[0]
    return {"string": "text", "integer": "integer", "number": "number", "boolean": "checkbox"}.get(
        kind if isinstance(kind, str) else "", "json"
    )


def _option_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _bound(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def initial_values(found: list[Field]) -> dict[str, str]:
    """Every field's initial text, and the whole input's as JSON for the text area."""
    values = {f.key: f.initial() for f in found}
    defaults = {f.name: f.default for f in found if f.has_default}
    values[RAW] = json.dumps(defaults, indent=2, ensure_ascii=False)
    return values


def read(found: list[Field], form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The input the fields' texts make, and an error (by field key) per field whose text
    should be JSON and is not. An empty field is left out (its default, if any, then
    applies); an unchecked box is false."""
    value: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in found:
        text = form.get(f.key, "")
        if f.kind == "checkbox":
            value[f.name] = bool(text)
            continue
        if text == "":
            continue
        if f.kind == "text":
            value[f.name] = text
        elif f.kind == "select":
            value[f.name] = _json_or_text(text)
        elif f.kind in ("integer", "number"):
            value[f.name] = _number(text)
        else:
            try:
                value[f.name] = body.parse_json(text.encode(), FIELD_DEPTH)
            except ClientError as exc:
                errors[f.key] = _said(exc).removeprefix("is ")
    return value, errors


def read_raw(text: str) -> tuple[Any, dict[str, str]]:
    """The input typed as one JSON document (empty: ``{}``)."""
    if not text.strip():
        return {}, {}
    try:
        return body.parse_json(text.encode(), INPUT_DEPTH), {}
    except ClientError as exc:
        return None, {GENERAL: f"the input {_said(exc)}"}


def _said(exc: ClientError) -> str:
    """What `body.parse_json` found wrong, said of a form's text rather than of a body:
    ``is not valid JSON: ...``, ``has text that is not valid Unicode ...``, ``is nested ...``."""
    return exc.message.removeprefix("the body ")


def _json_or_text(text: str) -> Any:
    try:
        return body.parse_json(text.encode(), FIELD_DEPTH)
    except ClientError:
        return text  # not one of the options: the schema's enum says so


def _number(text: str) -> Any:
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        number = float(stripped)
    except ValueError:
        return text
    # 2.0 stays 2.0: JSON Schema counts it an integer, and the store keeps it as sent.
    return number if math.isfinite(number) else text


def place(problems: list[tuple[str, str]], found: list[Field]) -> dict[str, str]:
    """Errors by field key (`GENERAL` for the rest) from ``(JSON path, message)`` pairs of
    the input: ``$.count`` or deeper belongs to ``count``; a missing required property,
    reported at ``$``, to the property it names."""
    placed: dict[str, list[str]] = {}
    # Longest first: a property named "a.b" owns "$.a.b" rather than "a" owning it.
    by_length = sorted(found, key=lambda f: len(f.name), reverse=True)
    for path, message in problems:
        owner = next((f for f in by_length if _under(path, f.name)), None)
        if owner is None and path == "$":
            owner = next((f for f in by_length if message == f"{f.name!r} is a required property"), None)
        if owner is None and path not in ("$", ""):
            message = f"{path}: {message}"
        placed.setdefault(GENERAL if owner is None else owner.key, []).append(message)
    return {key: "; ".join(messages) for key, messages in placed.items()}


def _under(path: str, name: str) -> bool:
    own = "$." + name
    return path == own or path.startswith((own + ".", own + "["))

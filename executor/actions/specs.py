"""The parameters of every action, checked when a workflow is loaded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeGuard

from executor.actions.base import Action, Param
from executor.durations import to_seconds


class ShellSpec(Action):
    name = "shell"
    params = (
        Param("command", ("string", "string_list"), required=True, doc="run by /bin/sh -c, or an argv list"),
        Param("env", ("string_map",), doc="extra environment variables"),
        Param("cwd", ("string",), doc="working directory"),
        Param("stdin", ("string",), doc="text written to the command's standard input"),
        Param(
            "artifacts_from",
            ("string_list",),
            doc="steps whose artifacts are written into the working directory before the command starts",
        ),
    )


class HttpSpec(Action):
    name = "http"
    params = (
        Param("method", ("string",), doc="GET (default), POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
        Param("url", ("string",), required=True),
        Param("headers", ("string_map",)),
        Param("query", ("string_map",)),
        Param("json", ("any",), doc="a JSON body"),
        Param("body", ("string",), doc="a text body"),
        Param("timeout", ("duration",), doc="for the whole request (default 30s)"),
        Param("expect_status", ("integer", "list", "string"), doc="default 2xx; e.g. 200, [200, 204], '2xx'"),
    )

    @classmethod
    def check_more(cls, with_: dict[str, Any], templated: frozenset[str]) -> list[tuple[str, str]]:
        problems = []
        if "json" in with_ and "body" in with_:
            problems.append(("body", "give either json or body, not both"))
        method = with_.get("method")
        if (
            isinstance(method, str)
            and "method" not in templated
            and method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
        ):
            problems.append(("method", f"{method!r} is not an HTTP method"))
        return problems


class SleepSpec(Action):
    name = "sleep"
    durable = True
    params = (
        Param("duration", ("duration",), doc="how long, e.g. 30s, 5m"),
        Param("until", ("string",), doc="an RFC 3339 time, e.g. 2026-12-01T09:00:00Z"),
    )

    @classmethod
    def check_more(cls, with_: dict[str, Any], templated: frozenset[str]) -> list[tuple[str, str]]:
        if ("duration" in with_) == ("until" in with_):
            return [("duration", "give exactly one of duration or until")]
        return []


class WaitSpec(Action):
    name = "wait"
    durable = True
    params = (
        Param(
            "signal",
            ("string", "string_list"),
            required=True,
            doc="the signal's name, or a list of names: the first of them to arrive",
        ),
        Param("timeout", ("duration",), doc="fail the step when no signal came in time"),
    )

    @classmethod
    def check_more(cls, with_: dict[str, Any], templated: frozenset[str]) -> list[tuple[str, str]]:
        names = with_.get("signal")
        if not isinstance(names, list) or "signal" in templated:
            return []
        if not names:
            return [("signal", "must name at least one signal")]
        return [
            (f"signal[{index}]", f"names {name!r} twice")
            for index, name in enumerate(names)
            if name in names[:index]
        ]


class WorkflowSpec(Action):
    name = "workflow"
    durable = True
    params = (
        Param("name", ("string",), required=True, doc="the child workflow's name"),
        Param("input", ("object",), doc="the child run's input"),
        Param("version", ("integer",), doc="a version of the child workflow (default: the latest)"),
    )


class NoopSpec(Action):
    name = "noop"
    params = (Param("output", ("any",), doc="the step's result (templated)"),)


# The statuses `terminate` may end a run with.
ENDINGS = ("succeeded", "failed", "cancelled")


class TerminateSpec(Action):
    name = "terminate"
    params = (
        Param("status", ("string",), required=True, doc="how the run ends: succeeded, failed or cancelled"),
        Param("message", ("string",), doc="why; recorded in the run's error"),
    )

    @classmethod
    def check_more(cls, with_: dict[str, Any], templated: frozenset[str]) -> list[tuple[str, str]]:
        status = with_.get("status")
        if isinstance(status, str) and "status" not in templated and status not in ENDINGS:
            return [("status", f"{status!r} is not one of: {', '.join(ENDINGS)}")]
        return []


class CancelSpec(Action):
    name = "cancel"
    params = (Param("steps", ("string_list",), required=True, doc="the ids of the steps to cancel"),)

    @classmethod
    def check_more(cls, with_: dict[str, Any], templated: frozenset[str]) -> list[tuple[str, str]]:
        # The workflow language checks the ids against the steps (`workflow.endings`): they
        # must be known when the workflow is loaded, so no template.
        if "steps" in templated:
            return [("steps", "must be a list of step ids, not a template")]
        steps = with_.get("steps")
        if not isinstance(steps, list):
            return []
        if not steps:
            return [("steps", "must name at least one step")]
        return [
            (f"steps[{index}]", f"names {step!r} twice")
            for index, step in enumerate(steps)
            if step in steps[:index]
        ]


# The roles a chat message may have (OpenAI's chat completions; `developer` is its newer
# name for `system`).
ROLES = ("system", "developer", "user", "assistant", "tool")


class LlmSpec(Action):
    name = "llm"
    metered = True
    params = (
        Param("model", ("string",), required=True, doc="the model's name, as the server knows it"),
        Param("messages", ("list",), doc="the conversation: a list of {role, content}"),
        Param("prompt", ("string",), doc="a single user message (instead of messages)"),
        Param("system", ("string",), doc="a system message before the prompt"),
        Param("temperature", ("number",), doc="sampling temperature, 0 to 2"),
        Param("max_tokens", ("integer",), doc="the reply's length at most, in tokens"),
        Param("base_url", ("string",), doc="the server's API root (default: --llm-base-url)"),
        Param("api_key", ("string",), doc="sent as a bearer token; normally {{ secrets.OPENAI_API_KEY }}"),
        Param("timeout", ("duration",), doc="for the whole call (default 120s)"),
        Param("response_schema", ("object",), doc="a JSON Schema the reply must be JSON of"),
    )

    @classmethod
    def check_more(cls, with_: dict[str, Any], templated: frozenset[str]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if ("messages" in with_) == ("prompt" in with_):
            problems.append(("prompt", "give exactly one of messages or prompt"))
        if "system" in with_ and "messages" in with_:
            problems.append(("system", "goes with prompt; with messages, make it the first message"))
        if "messages" not in templated:
            problems += message_problems(with_.get("messages"))
        temperature = with_.get("temperature")
        if _number(temperature) and "temperature" not in templated and not 0 <= temperature <= 2:
            problems.append(("temperature", f"{temperature} is not from 0 to 2"))
        tokens = with_.get("max_tokens")
        if _number(tokens) and "max_tokens" not in templated and tokens < 1:
            problems.append(("max_tokens", "must be at least 1"))
        model = with_.get("model")
        if isinstance(model, str) and "model" not in templated and not model.strip():
            problems.append(("model", "must name a model"))
        seconds = _seconds(with_["timeout"]) if "timeout" in with_ and "timeout" not in templated else None
        if seconds is not None and seconds <= 0:
            problems.append(("timeout", "must be longer than 0"))
        base_url = with_.get("base_url")
        if isinstance(base_url, str) and "base_url" not in templated and not is_http_url(base_url):
            problems.append(("base_url", f"{base_url!r} is not an http:// or https:// URL"))
        schema = with_.get("response_schema")
        if isinstance(schema, dict) and "response_schema" not in templated:
            problems += [("response_schema" + where, message) for where, message in schema_problems(schema)]
        return problems


def message_problems(messages: Any) -> list[tuple[str, str]]:
    """What is wrong with a list of chat messages (checked again once rendered)."""
    if not isinstance(messages, list):
        return []  # absent, or not a list: the parameter's type check says so
    if not messages:
        return [("messages", "must hold at least one message")]
    problems = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            problems.append((where, "must be a mapping with role and content"))
            continue
        role = message.get("role")
        if not isinstance(role, str):
            problems.append((f"{where}.role", f"is required: one of {', '.join(ROLES)}"))
        elif role not in ROLES and "{{" not in role:
            problems.append((f"{where}.role", f"{role!r} is not one of {', '.join(ROLES)}"))
        if "content" not in message:
            problems.append((f"{where}.content", "is required"))
    return problems


def schema_problems(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Where ``schema`` is not a valid JSON Schema (draft 2020-12) that a reply can be checked
    against: ``(path, message)``. Its patterns must compile and its ``$ref``s point inside it
    (nothing is fetched): else checking a reply would fail after the call was paid for."""
    # Here, not at the top: jsonschema is slow to import, and serving needs it only for this.
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    meta = Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    problems = [
        (_path(error.absolute_path), f"invalid JSON Schema: {error.message}")
        for error in meta.iter_errors(schema)
    ]
    if problems or _has_id(schema, top=True):  # with $ids, a $ref's base is not the root's
        return problems
    root = DRAFT202012.create_resource(schema)
    base = root.id() or ""
    resolver = Registry().with_resource(base, root).resolver(base_uri=base)
    for where, ref in _refs(schema, ()):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            problems.append((_path((*where, "$ref")), f"{ref!r} points nowhere in the schema"))
    return problems


def _path(parts: Any) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


def _refs(value: Any, where: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every ``$ref`` in a schema, with where it is."""
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield where, value["$ref"]
        for key, item in value.items():
            if key not in ("$ref", "const", "enum", "default", "examples"):  # values, not schemas
                yield from _refs(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _refs(item, (*where, index))


def _has_id(value: Any, top: bool = False) -> bool:
    if isinstance(value, dict):
        return (not top and "$id" in value) or any(_has_id(item) for item in value.values())
    return isinstance(value, list) and any(_has_id(item) for item in value)


def _seconds(value: Any) -> float | None:
    """A duration parameter in seconds (None: not one, which its type check says)."""
    try:
        return to_seconds(value)
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_http_url(text: str) -> bool:
    scheme, _, rest = text.partition("://")
    return (
        scheme.lower() in ("http", "https") and bool(rest.strip("/")) and not any(c.isspace() for c in rest)
    )


SPECS: dict[str, type[Action]] = {
    spec.name: spec
    for spec in (
        ShellSpec,
        HttpSpec,
        SleepSpec,
        WaitSpec,
        WorkflowSpec,
        NoopSpec,
        TerminateSpec,
        CancelSpec,
        LlmSpec,
    )
}

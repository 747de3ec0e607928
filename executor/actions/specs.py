"""The parameters of every action, checked when a workflow is loaded."""

from __future__ import annotations

from typing import Any

from executor.actions.base import Action, Param


class ShellSpec(Action):
    name = "shell"
    params = (
        Param("command", ("string", "string_list"), required=True, doc="run by /bin/sh -c, or an argv list"),
        Param("env", ("string_map",), doc="extra environment variables"),
        Param("cwd", ("string",), doc="working directory"),
        Param("stdin", ("string",), doc="text written to the command's standard input"),
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
        Param("signal", ("string",), required=True, doc="the signal's name"),
        Param("timeout", ("duration",), doc="fail the step when no signal came in time"),
    )


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


SPECS: dict[str, type[Action]] = {
    spec.name: spec for spec in (ShellSpec, HttpSpec, SleepSpec, WaitSpec, WorkflowSpec, NoopSpec)
}

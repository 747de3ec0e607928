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


SPECS: dict[str, type[Action]] = {
    spec.name: spec
    for spec in (ShellSpec, HttpSpec, SleepSpec, WaitSpec, WorkflowSpec, NoopSpec, TerminateSpec, CancelSpec)
}

"""The remote CLI's client: one line per error, Server-Sent Events, unreachable servers."""

from __future__ import annotations

import socket

import httpx
import pytest

from executor.remote.client import ApiError, Client, Event, Unreachable, _parse_events, api_error, path


def test_an_api_error_is_one_line_with_code_and_status() -> None:
    error = ApiError(404, "not_found", "no run 1234")
    assert error.message == "not_found (404): no run 1234" and error.exit_code == 1


def test_field_errors_are_appended_unless_the_message_quotes_them() -> None:
    quoted = ApiError(
        422,
        "invalid_request",
        "the body is invalid: $.version: 0 is less than the minimum of 1",
        [{"path": "$.version", "message": "0 is less than the minimum of 1"}],
    )
    assert (
        quoted.message
        == "invalid_request (422): the body is invalid: $.version: 0 is less than the minimum of 1"
    )
    problems = ApiError(
        422,
        "invalid_workflow",
        "the workflow has 2 problems:\n  line 4: steps[0].action: unknown action 'nope'\n  name: missing",
        [
            {"path": "steps[0].action", "line": 4, "message": "unknown action 'nope'"},
            {"path": "name", "line": None, "message": "missing"},
        ],
    )
    assert problems.message == (
        "invalid_workflow (422): the workflow has 2 problems: "
        "steps[0].action (line 4): unknown action 'nope'; name: missing"
    )
    assert "\n" not in problems.message


def test_an_answer_not_in_the_apis_shape() -> None:
    request = httpx.Request("GET", "http://x/runs")
    bare = api_error(httpx.Response(400, request=request))
    assert bare.message == "http_error (400): Bad Request: no body"
    proxy = api_error(httpx.Response(502, text="<html><b>Bad gateway</b>\n</html>", request=request))
    assert proxy.message == "http_error (502): Bad Gateway: <html><b>Bad gateway</b> </html>"
    moved = api_error(httpx.Response(301, headers={"location": "https://x/runs"}, request=request))
    assert moved.message == "http_error (301): Moved Permanently: redirected to https://x/runs"
    shaped = api_error(
        httpx.Response(
            409, json={"error": {"code": "conflict", "message": "run r is failed", "status": "failed"}}
        )
    )
    assert shaped.message == "conflict (409): run r is failed" and shaped.status == "failed"


def test_server_sent_events_are_parsed() -> None:
    stream = [
        ": keep-alive",
        "id: 7",
        "event: line",
        'data: {"line": "a"}',
        "",
        "data: one",
        "data: two",
        "",
        "",
        "event: end",
        'data: {"status": "succeeded"}',
        "",
    ]
    assert list(_parse_events(iter(stream))) == [
        Event("line", '{"line": "a"}', "7"),
        Event("message", "one\ntwo", "7"),
        Event("end", '{"status": "succeeded"}', "7"),
    ]


def test_path_segments_are_quoted() -> None:
    assert path("runs", "a/b c", "signals", "go?") == "/runs/a%2Fb%20c/signals/go%3F"


def test_a_closed_port_is_one_line_naming_the_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}/") as client, pytest.raises(Unreachable) as caught:
        client.get("/runs")
    assert caught.value.message.startswith(
        f"cannot reach the executor at http://127.0.0.1:{port}: connection refused"
    )
    assert "\n" not in caught.value.message

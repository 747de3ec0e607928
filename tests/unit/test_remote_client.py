"""The remote CLI's client: one line per error, Server-Sent Events, unreachable servers, and
answers no Executor would send."""

from __future__ import annotations

import io
import json
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from executor import __version__
from executor.cli import app
from executor.errors import ConfigError
from executor.remote.client import (
    ApiError,
    Client,
    Event,
    UnexpectedAnswer,
    Unreachable,
    _parse_events,
    api_error,
    path,
)
from executor.remote.watch import Watch, follow_logs


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


# --- answers no Executor sends: a real server on a free port, scripted byte by byte --------


def answer(status: str, headers: dict[str, str], body: bytes) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"HTTP/1.1 {status}\r\n{head}Connection: close\r\n\r\n".encode() + body


def json_answer(value: Any) -> bytes:
    body = json.dumps(value).encode()
    return answer("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)


class Scripted:
    """Answers each request with the bytes ``script(method, target)`` returns, then closes
    the connection; records the targets asked for."""

    def __init__(self, script: Callable[[str, str], bytes]) -> None:
        self.asked: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                method, target, _ = self.rfile.readline().decode().split(" ", 2)
                length = 0
                while (line := self.rfile.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                self.rfile.read(length)
                outer.asked.append(target)
                self.wfile.write(script(method, target))

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Scripted:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (
            answer("200 OK", {"Content-Type": "text/html", "Content-Length": "15"}, b"<html>hi</html>"),
            "http_error (200): the answer is not JSON (text/html): <html>hi</html>",
        ),
        (
            answer("200 OK", {"Content-Type": "application/json", "Content-Length": "10"}, b'{"runs": ['),
            'http_error (200): the answer is not JSON (application/json): {"runs": [',
        ),
        (
            answer("204 No Content", {}, b""),
            "http_error (204): the answer is not JSON (no content type): an empty body",
        ),
    ],
)
def test_an_answer_that_is_not_json_says_so(sent: bytes, expected: str) -> None:
    with (
        Scripted(lambda method, target: sent) as server,
        Client(server.url) as client,
        pytest.raises(ApiError) as caught,
    ):
        client.get("/runs")
    assert caught.value.message == expected


def test_an_answer_cut_short_is_a_broken_connection() -> None:
    cut = answer("200 OK", {"Content-Type": "application/json", "Content-Length": "100"}, b'{"runs": [')
    with (
        Scripted(lambda method, target: cut) as server,
        Client(server.url) as client,
        pytest.raises(Unreachable) as caught,
    ):
        client.get("/runs")
    assert caught.value.reason.startswith("the connection broke (")
    assert "\n" not in caught.value.message


def test_an_event_stream_cut_mid_line_drops_the_half_event_or_breaks() -> None:
    stream = {"Content-Type": "text/event-stream"}
    ended = answer(
        "200 OK", stream, b'event: line\ndata: {"id": 1, "line": "a"}\n\nevent: line\ndata: {"id": 2, "li'
    )
    with Scripted(lambda method, target: ended) as server, Client(server.url) as client:
        events = list(client.events("/runs/r/steps/s/logs"))
    assert events == [Event("open", ""), Event("line", '{"id": 1, "line": "a"}')]
    chunked = answer("200 OK", {**stream, "Transfer-Encoding": "chunked"}, b"40\r\nevent: line\ndata: {")
    with (
        Scripted(lambda method, target: chunked) as server,
        Client(server.url) as client,
        pytest.raises(Unreachable, match="the connection broke"),
    ):
        list(client.events("/runs/r/steps/s/logs"))


def test_a_log_stream_that_is_not_one_says_so() -> None:
    with (
        Scripted(lambda method, target: json_answer({"lines": []})) as server,
        Client(server.url) as client,
        pytest.raises(
            ApiError, match=r"http_error \(200\): the answer is not an event stream \(application/json\)"
        ),
    ):
        list(client.events("/runs/r/steps/s/logs"))
    garbled = answer("200 OK", {"Content-Type": "text/event-stream"}, b'event: line\ndata: {"id": 1, "li\n\n')
    with (
        Scripted(lambda method, target: garbled) as server,
        Client(server.url) as client,
        pytest.raises(UnexpectedAnswer) as caught,
    ):
        list(follow_logs(client, "r", "s"))
    assert caught.value.message.startswith(
        f"the answer of {server.url} to GET /runs/r/steps/s/logs is not what "
    )
    assert '(a log line event is {"id":1,"li' not in caught.value.message  # quoted as sent
    assert caught.value.message.endswith(
        """(a log line event is '{"id": 1, "li'); is it an Executor of the same version?"""
    )


def test_a_url_httpx_cannot_send_to_is_a_usage_error() -> None:
    with Client("http://xn--.example") as client, pytest.raises(ConfigError) as caught:
        client.get("/runs")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("invalid server URL: 'http://xn--.example': ")


def test_a_command_reading_an_answer_without_its_fields_says_so(tmp_path: Path) -> None:
    with Scripted(lambda method, target: json_answer({"hello": "world"})) as server:
        result = CliRunner().invoke(
            app, ["runs", "list", "--server", server.url], env={"XDG_CONFIG_HOME": str(tmp_path)}
        )
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"executor: error: the answer of {server.url} to GET /runs is not what executor {__version__} "
        "expects (no field 'runs'); is it an Executor of the same version?\n"
    )


def test_a_followed_step_whose_log_stream_breaks_is_one_line() -> None:
    """In the thread that follows a step's lines, an answer it cannot read is one line, not
    a thread's traceback (pytest would fail the test on one)."""
    step = {"id": "s", "status": "running", "attempts": 1, "started_at": "2026-01-01T00:00:00Z"}
    garbled = answer("200 OK", {"Content-Type": "text/event-stream"}, b"event: line\ndata: nope\n\n")

    def script(method: str, target: str) -> bytes:
        if target.startswith("/runs/r/steps/s/logs"):
            return garbled
        streamed = any(asked.startswith("/runs/r/steps/s/logs") for asked in server.asked)
        status = "succeeded" if streamed else "running"
        return json_answer({"id": "r", "status": status, "steps": [{**step, "status": status}]})

    out = io.StringIO()
    with Scripted(script) as server, Client(server.url) as client:
        final = Watch(client, "r", follow=True, out=out).until_final()
    assert final["status"] == "succeeded"
    printed = out.getvalue().splitlines()
    assert printed[0] == "▶ s"
    assert any(
        line.startswith("! s") and "log stream lost: the answer of" in line and "a log line event is" in line
        for line in printed
    ), printed


def test_an_error_answer_of_an_odd_shape_is_one_line() -> None:
    request = httpx.Request("GET", "http://x/runs")
    for body in (
        {"error": "nope"},
        {"error": ["a"]},
        {"error": {"code": "x"}},
        [1],
        {"error": {"code": "bad", "message": "m", "details": [1, "two"], "status": {"x": 1}}},
    ):
        error = api_error(httpx.Response(400, json=body, request=request))
        assert error.message.startswith(("http_error (400): Bad Request: ", "bad (400): m")), error.message
        assert "\n" not in error.message
    deep = httpx.Response(500, content=b"[" * 100_000, request=request)
    assert api_error(deep).message.startswith("http_error (500): Internal Server Error: [[[")

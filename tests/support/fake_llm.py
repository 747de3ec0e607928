"""A small OpenAI-compatible chat-completions server on loopback, scripted per request: the
far end of `llm` steps (the one external boundary the tests stand in for).

Each request takes the next `Reply` of the script, then the default once the script is
spent; every request is recorded (headers, JSON body, arrival time).

    with FakeLlm(throttled(retry_after="1"), completion("hello")) as server:
        ...  # steps call server.url (the API root: .../v1)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a server too slow for the step's timeout)


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    json: Any
    at: float  # time.monotonic() on arrival


def completion(
    text: str | None = "hello",
    *,
    model: str = "fake-model",
    input_tokens: int = 12,
    output_tokens: int = 5,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    finish_reason: str = "stop",
) -> Reply:
    """A chat completion answering ``text``, with its usage."""
    return Reply(
        body={
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
                "prompt_tokens_details": {"cached_tokens": cached_tokens},
                "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
            },
        }
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """An error as OpenAI answers one."""
    return Reply(status, {"error": {"message": message, "type": "fake_error"}}, headers or {})


class FakeLlm:
    def __init__(self, *script: Reply, default: Reply | None = None) -> None:
        self.script = list(script)
        self.default = default or completion()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                reply = outer._take(
                    Request(
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        json=json.loads(raw) if raw else None,
                        at=time.monotonic(),
                    )
                )
                if reply.delay and outer._stopping.wait(reply.delay):
                    return  # the server is stopping: no answer
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _take(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else self.default

    @property
    def url(self) -> str:
        """The API root, as a step's ``base_url`` names it."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeLlm:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

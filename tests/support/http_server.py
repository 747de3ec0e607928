"""A small real HTTP server in a thread, recording what it receives (the far end of `http` steps)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingServer:
    def __init__(
        self,
        status: int = 200,
        fail_first: int = 0,
        fail_status: int = 503,
        fail_headers: dict[str, str] | None = None,
    ) -> None:
        """The first ``fail_first`` requests get ``fail_status`` (with ``fail_headers``, a
        ``Retry-After`` say), the others ``status``."""
        self.status = status
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.fail_headers = fail_headers or {}
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body.decode(),
                        "at": time.monotonic(),
                    }
                )
                failing = len(outer.requests) <= outer.fail_first
                status = outer.fail_status if failing else outer.status
                payload = json.dumps({"path": self.path, "body": json.loads(body) if body else None}).encode()
                self.send_response(status)
                for name, value in outer.fail_headers.items() if failing else ():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

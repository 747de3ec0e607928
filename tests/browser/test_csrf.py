"""A page of another origin cannot change anything through the dashboard, even one on the
same host (cookies ignore ports, so it can plant its own CSRF cookie): the guard refuses a
POST whose Origin is not the dashboard's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.browser.conftest import Dashboard
from tests.support.browser import body_text
from tests.support.waiting import wait_until

WAITS = """
name: waits
steps:
  - id: hold
    action: wait
    with: {signal: go}
"""
# Sets its own executor_csrf cookie for the dashboard's host (any port) and posts it back.
ATTACK = """<!doctype html><html><body>
<form id="f" method="post" action="{target}"><input type="hidden" name="csrf" value="planted"></form>
<script>
document.cookie = "executor_csrf=planted; path=/ui";
document.getElementById("f").submit();
</script></body></html>"""


@contextmanager
def serving(page: str) -> Iterator[str]:
    """``page`` served at / by a server of its own on another port of the same host."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_on_another_port_cannot_cancel_a_run(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(WAITS)
    run_id = dashboard.start("waits")
    dashboard.wait_status(run_id, "running")
    browser.get(dashboard.url + "/ui/runs")  # the victim has the dashboard open: a real CSRF cookie
    with serving(ATTACK.format(target=f"{dashboard.url}/ui/runs/{run_id}/cancel")) as evil:
        browser.get(evil)

        def refusal() -> str | None:
            text = body_text(browser)
            return text if "another site" in text else None

        refused = wait_until(refusal, what="the dashboard's refusal")
    assert "nothing was changed" in refused
    assert dashboard.run(run_id)["status"] == "running"

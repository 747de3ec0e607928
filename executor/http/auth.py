"""Bearer-token authentication for every route but ``/health*`` and the dashboard.

Several tokens may be valid at once (rotation). Tokens are compared in constant time and
never logged. The dashboard (``/ui``) checks its own session cookie (executor.http.ui.guard);
a browser signed in there may also *read* the API with that cookie (GET and HEAD only), so
that the pages can follow a step's log over the API's event stream, which a browser's
EventSource cannot send an Authorization header to. State-changing API requests always need
the bearer token: a cookie alone never changes anything outside ``/ui``, where every change
carries a CSRF token.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from executor.http import session

OPEN_PREFIX = "/health"
UI_PREFIX = "/ui"
SAFE_METHODS = ("GET", "HEAD")


class BearerAuth:
    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self.app = app
        self.names = tokens
        self.tokens = [token.encode() for token in tokens]

    def _allowed(self, header: bytes | None) -> bool:
        if header is None or header[:7].lower() != b"bearer ":
            return False
        offered = header[7:].strip()
        # Compare against every token, always: the time taken says nothing about which matched.
        matches = [hmac.compare_digest(offered, token) for token in self.tokens]
        return any(matches)

    def _open(self, scope: Scope) -> bool:
        path: str = scope["path"]
        return (
            path.startswith(OPEN_PREFIX)
            or path == "/"
            or path == UI_PREFIX
            or path.startswith(UI_PREFIX + "/")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or self._open(scope):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if self._allowed(dict(headers).get(b"authorization")) or (
            scope["method"] in SAFE_METHODS
            and session.valid(session.cookie_value(headers, session.SESSION_COOKIE), self.names)
        ):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"error": {"code": "unauthorized", "message": "send Authorization: Bearer <token>"}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="executor"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

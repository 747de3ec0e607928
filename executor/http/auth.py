"""Bearer-token authentication for every route but ``/health*``.

Several tokens may be valid at once (rotation). Tokens are compared in constant time and
never logged.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PREFIX = "/health"


class BearerAuth:
    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self.app = app
        self.tokens = [token.encode() for token in tokens]

    def _allowed(self, header: bytes | None) -> bool:
        if header is None or header[:7].lower() != b"bearer ":
            return False
        offered = header[7:].strip()
        # Compare against every token, always: the time taken says nothing about which matched.
        matches = [hmac.compare_digest(offered, token) for token in self.tokens]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or scope["path"].startswith(OPEN_PREFIX):
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization")
        if self._allowed(header):
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

"""What every dashboard request passes through: security headers, the login gate, CSRF.

- **Headers.** A Content-Security-Policy that allows scripts, styles and connections from
  this origin only (no inline script, no eval: htmx is configured not to need them), no
  framing, no MIME sniffing.
- **Login.** With API tokens set, a page without a valid session cookie redirects to
  ``/ui/login`` (htmx requests get ``HX-Redirect`` so the whole page moves, not a fragment).
- **CSRF.** Every request may carry the random ``executor_csrf`` cookie; a response sets it
  when the request had none. A POST must echo it in the ``X-CSRF-Token`` header (htmx sends
  it from ``hx-headers`` on ``<body>``) or in a ``csrf`` form field (plain forms); otherwise
  403 and nothing changes. The cookie is SameSite=Strict, so another site can neither send it
  nor read it. A POST whose ``Origin`` is another origin, or whose ``Sec-Fetch-Site`` says
  another site, is refused before that (cookies ignore ports: see ``same_origin``).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs, quote, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from executor.http import session
from executor.http.auth import UI_PREFIX

STATIC_PREFIX = UI_PREFIX + "/static/"
LOGIN_PATH = UI_PREFIX + "/login"
# A form the dashboard posts is a handful of fields; a signal payload is the largest.
MAX_FORM = 1024 * 1024

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def _is_ui(path: str) -> bool:
    return path == "/" or path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


def cookie_header(name: str, value: str, *, max_age: int | None, secure: bool) -> bytes:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode()


class Guard:
    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_ui(scope["path"]):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = scope["headers"]
        csrf = session.cookie_value(headers, session.CSRF_COOKIE)
        new_csrf = None
        if not csrf:
            csrf = new_csrf = secrets.token_urlsafe(24)
        scope.setdefault("state", {})["csrf"] = csrf
        secure = scope.get("scheme") == "https"

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if new_csrf is not None:
                    extra.append(
                        (
                            b"set-cookie",
                            cookie_header(session.CSRF_COOKIE, new_csrf, max_age=None, secure=secure),
                        )
                    )
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        if path.startswith(STATIC_PREFIX):
            await self.app(scope, receive, send_secured)
            return
        signed_in = not self.tokens or session.valid(
            session.cookie_value(headers, session.SESSION_COOKIE), self.tokens
        )
        scope["state"]["signed_in"] = signed_in
        if not signed_in and path != LOGIN_PATH:
            await _redirect_to_login(scope, send_secured)
            return
        if scope["method"] not in ("GET", "HEAD"):
            if not same_origin(scope):
                await _refuse(send_secured, 403, "This request came from another site: nothing was changed.")
                return
            body = await _read_body(receive)
            if body is None:
                await _refuse(send_secured, 413, "The form is too large.")
                return
            if not _csrf_ok(scope, body, csrf if new_csrf is None else None):
                await _refuse(
                    send_secured,
                    403,
                    "This form has expired or came from another site. Reload the page and try again.",
                )
                return
            receive = _replay(body)
        await self.app(scope, receive, send_secured)


def same_origin(scope: Scope) -> bool:
    """Whether a browser says the request comes from this origin (or says nothing, as a
    script's HTTP client does). The CSRF cookie alone is not enough: cookies ignore ports,
    so a page on another port of the same host can set ``executor_csrf`` to a value of its
    choosing and post it back; its ``Origin`` (and ``Sec-Fetch-Site: same-site``) give it
    away, and browsers do not let a page forge either."""
    headers = dict(scope["headers"])
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None and fetch_site not in (b"same-origin", b"none"):
        return False
    origin = headers.get(b"origin")
    if origin is None:
        return True
    # A TLS-terminating proxy leaves the Host header without a port: both sides then take
    # the default port of the scheme the browser used.
    offered = urlsplit(origin.decode("latin-1"))
    own = urlsplit("//" + headers.get(b"host", b"").decode("latin-1"))
    default = {"http": 80, "https": 443}.get(offered.scheme)
    try:
        return (
            offered.hostname is not None
            and offered.hostname == own.hostname
            and (offered.port or default) == (own.port or default)
        )
    except ValueError:  # a port that is not a number
        return False


def _csrf_ok(scope: Scope, body: bytes, cookie: str | None) -> bool:
    # No cookie in the request: nothing to compare with, whatever was offered.
    if cookie is None:
        return False
    offered = dict(scope["headers"]).get(b"x-csrf-token", b"").decode("latin-1")
    if not offered and dict(scope["headers"]).get(b"content-type", b"").startswith(
        b"application/x-www-form-urlencoded"
    ):
        offered = parse_qs(body.decode("utf-8", "replace")).get("csrf", [""])[0]
    return bool(offered) and hmac.compare_digest(offered.encode(), cookie.encode())


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _redirect_to_login(scope: Scope, send: Send) -> None:
    target = scope["path"] + (
        ("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else ""
    )
    location = f"{LOGIN_PATH}?next={quote(target, safe='')}".encode()
    is_htmx = dict(scope["headers"]).get(b"hx-request") == b"true"
    headers = [(b"hx-redirect", location)] if is_htmx else [(b"location", location)]
    await send(
        {
            "type": "http.response.start",
            "status": 200 if is_htmx else 303,
            "headers": [*headers, (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, status: int, message: str) -> None:
    body = (
        "<!doctype html><meta charset=utf-8><title>Refused</title>"
        f'<p>{message}</p><p><a href="/ui">Back to the dashboard</a></p>'
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

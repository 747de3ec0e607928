"""A synchronous client of Executor's HTTP API, and the errors the remote CLI reports.

Every failure becomes one `RemoteError` with a message fit for one line on a terminal: an
error answer of the API (``{"error": {"code", "message", "details"?}}``) keeps its code and
HTTP status; a server that cannot be reached is named, with the reason; an answer that is not
the API's (not JSON, not an event stream, not the fields a command reads) says so; never a
traceback. A request that cannot even be written (a URL httpx refuses) is a `ConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from executor import __version__
from executor.errors import ConfigError, ExecutorError

CONNECT_TIMEOUT = 5.0  # seconds to open a connection: a server that does not answer fails fast
DEFAULT_TIMEOUT = 30.0  # seconds for an answer (a followed log stream waits as long as it takes)
DOWNLOAD_PIECE = 1 << 20  # bytes of a download held at once
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")


class RemoteError(ExecutorError):
    """Something the remote CLI could not do; `message` is the whole line to show."""

    code = "remote_error"


class Unreachable(RemoteError):
    """No answer from the server: refused, unknown host, timed out, connection broken."""

    code = "unreachable"

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(
            f"cannot reach the executor at {server}: {reason} "
            "(is it running? --server, EXECUTOR_SERVER or --context choose the server)"
        )
        self.server = server
        self.reason = reason


class ApiError(RemoteError):
    """An error answer of the API, as ``code (status): message``."""

    def __init__(
        self,
        http_status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        status: str | None = None,
    ) -> None:
        self.code = code
        self.http_status = http_status
        self.reason = message
        self.details = details or []
        self.status = status  # a 409's: the run's current status
        super().__init__(f"{code} ({http_status}): {_one_line(message, self.details)}")


def _one_line(message: str, details: list[dict[str, Any]]) -> str:
    """The message on one line, with each field error it does not quote already appended
    (``path (line N): message``): a workflow's problems come as lines under a heading."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    text = lines[0].rstrip(":") if lines else ""
    missing = []
    for detail in details:
        path, line, what = str(detail.get("path") or ""), detail.get("line"), str(detail.get("message") or "")
        where = f"{path} (line {line})" if line else path
        if what not in message or len(lines) > 1:
            missing.append(f"{where}: {what}" if where else what)
    return f"{text}: {'; '.join(missing)}" if missing else text


class UnexpectedAnswer(RemoteError):
    """A success answer without what a command reads from it: the server is not an Executor
    (or not one of this version), or something in between changed the answer."""

    code = "unexpected_answer"

    def __init__(self, server: str, request: str, what: str) -> None:
        super().__init__(
            f"the answer of {server} to {request} is not what executor {__version__} expects ({what}); "
            "is it an Executor of the same version?"
        )


def what_was_wrong(exc: Exception) -> str:
    """What a command found wrong in an answer, from the error reading it raised."""
    if isinstance(exc, KeyError):
        return f"no field {exc.args[0]!r}" if exc.args else "a field is missing"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _not_json(response: httpx.Response) -> ApiError:
    kind = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    text = " ".join(response.text.split())[:120] if response.content else "an empty body"
    return ApiError(response.status_code, "http_error", f"the answer is not JSON ({kind}): {text}")


def api_error(response: httpx.Response) -> ApiError:
    """The error an answer that is not a success stands for."""
    try:
        error = response.json()["error"]
        details = error.get("details")
        status = error.get("status")
        return ApiError(
            response.status_code,
            str(error["code"]),
            str(error["message"]),
            [d for d in details if isinstance(d, dict)] if isinstance(details, list) else None,
            status if isinstance(status, str) else None,
        )
    except (ValueError, RecursionError, LookupError, TypeError, AttributeError):
        # Not the API's shape: a proxy in between, or a request the HTTP server refused.
        text = " ".join(response.text.split())[:200]
        phrase = response.reason_phrase or "error"
        location = response.headers.get("location")
        detail = f"redirected to {location}" if location else text or "no body"
        return ApiError(response.status_code, "http_error", f"{phrase}: {detail}")


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event."""

    event: str
    data: str
    id: str | None = None


def segment(value: str | int) -> str:
    """A path segment: a run id or a signal name may hold characters a path may not."""
    return quote(str(value), safe="")


def path(*parts: str | int) -> str:
    return "/" + "/".join(segment(part) for part in parts)


class Client:
    """The API of one server; ``token`` is sent as ``Authorization: Bearer``."""

    def __init__(self, server: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.server = server.rstrip("/")
        headers = {"User-Agent": f"executor-cli/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.answered: str | None = None  # the last request answered with success, as METHOD PATH
        try:
            self.http = httpx.Client(
                base_url=self.server,
                headers=headers,
                timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
                follow_redirects=False,  # a redirect would drop the token or the body: say so instead
            )
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise self._unsendable(exc) from exc

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> tuple[int, Any]:
        """Send one request; return the status and the JSON answer, or raise `RemoteError`."""
        headers = {"Content-Type": content_type} if content_type else None
        try:
            response = self.http.request(
                method,
                url,
                params=_query(params),
                json=body,
                content=content,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise self._unsendable(exc) from exc
        if not response.is_success:
            raise self._error(response)
        try:
            answer = response.json()
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly deep
            raise _not_json(response) from None
        self.answered = f"{method} {url}"
        return response.status_code, answer

    def get(self, url: str, **params: Any) -> Any:
        return self.call("GET", url, params=params)[1]

    def post(self, url: str, body: Any = None) -> Any:
        return self.call("POST", url, body=body)[1]

    def events(self, url: str, **params: Any) -> Iterator[Event]:
        """The Server-Sent Events of a stream, as they come, after an ``open`` event once the
        server has accepted it (as a browser's EventSource says); ends when the server ends it."""
        try:
            # No read timeout: a step may print nothing for an hour.
            with self.http.stream(
                "GET",
                url,
                params=_query(params),
                headers={"Accept": "text/event-stream"},
                timeout=httpx.Timeout(self.timeout, connect=CONNECT_TIMEOUT, read=None),
            ) as response:
                if not response.is_success:
                    response.read()
                    raise self._error(response)
                kind = response.headers.get("content-type", "").split(";")[0].strip()
                if kind != "text/event-stream":
                    response.read()
                    raise ApiError(
                        response.status_code,
                        "http_error",
                        f"the answer is not an event stream ({kind or 'no content type'})",
                    )
                self.answered = f"GET {url}"
                yield Event("open", "")
                yield from _parse_events(response.iter_lines())
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise self._unsendable(exc) from exc

    def download(self, url: str, **params: Any) -> Iterator[bytes]:
        """The body of a GET (a file, not JSON) as it arrives, a piece at a time: never
        whole in memory. A body cut short (fewer bytes than its Content-Length) is
        `Unreachable` ("the connection broke")."""
        try:
            with self.http.stream("GET", url, params=_query(params), headers={"Accept": "*/*"}) as response:
                if not response.is_success:
                    response.read()
                    raise self._error(response)
                self.answered = f"GET {url}"
                yield from response.iter_bytes(DOWNLOAD_PIECE)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise self._unsendable(exc) from exc

    def _error(self, response: httpx.Response) -> ApiError:
        error = api_error(response)
        if response.status_code == 401:
            hint = (
                "the token sent was refused"
                if "Authorization" in self.http.headers
                else "no token was sent: give one with --token, EXECUTOR_API_TOKEN or a context"
            )
            error = ApiError(401, error.code, f"{error.reason} ({hint})", error.details)
        return error

    def _unsendable(self, exc: Exception) -> ConfigError:
        """A request httpx cannot write: the server's URL (a host IDNA refuses), or a value
        that is not valid Unicode that no check before caught."""
        if isinstance(exc, UnicodeEncodeError):
            return ConfigError("request", "a value given is not valid Unicode text (a lone surrogate)")
        return ConfigError("server URL", f"{self.server!r}: {_reason(exc)}")

    def _unreachable(self, exc: httpx.HTTPError) -> Unreachable:
        if isinstance(exc, httpx.TimeoutException):
            reason = f"no answer within {self.timeout:g}s"
        elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            reason = f"the connection broke ({_reason(exc)})"
        else:
            reason = _reason(exc)
        return Unreachable(self.server, reason)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    text = _ERRNO.sub("", text.splitlines()[0])
    return text[:1].lower() + text[1:]


def _query(params: dict[str, Any] | None) -> dict[str, str] | None:
    """Query parameters as the API reads them: absent when None, booleans as true/false."""
    if not params:
        return None
    query = {}
    for name, value in params.items():
        if value is None:
            continue
        query[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return query


def _parse_events(lines: Iterator[str]) -> Iterator[Event]:
    event, data, ident = "message", list[str](), None
    for line in lines:
        if not line:
            if data:
                yield Event(event, "\n".join(data), ident)
            event, data = "message", []
            continue
        if line.startswith(":"):  # a comment (keep-alive)
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            ident = value

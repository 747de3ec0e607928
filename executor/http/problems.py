"""Errors a client caused, each with its HTTP status and a code, in the one error shape.

``details`` (a list of ``{path, line?, message}``) accompanies 422 answers, so that every
field that is wrong is named at once.
"""

from __future__ import annotations

from typing import Any

from executor.errors import ExecutorError


class ClientError(ExecutorError):
    code = "bad_request"
    http_status = 400

    def __init__(
        self, message: str, details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.details = details
        self.headers = headers or {}


class MalformedBody(ClientError):
    code = "malformed_body"


class UnsupportedMediaType(ClientError):
    code = "unsupported_media_type"
    http_status = 415


class BodyTooLarge(ClientError):
    code = "body_too_large"
    http_status = 413


class InvalidRequest(ClientError):
    code = "invalid_request"
    http_status = 422


class NotFound(ClientError):
    code = "not_found"
    http_status = 404


class Unauthorized(ClientError):
    code = "unauthorized"
    http_status = 401


class Draining(ClientError):
    code = "draining"
    http_status = 503


class RangeNotSatisfiable(ClientError):
    code = "range_not_satisfiable"
    http_status = 416


class Unavailable(ClientError):
    """This instance cannot serve what was asked now (an artifact whose bytes it cannot
    reach); another instance, or this one later, may."""

    code = "unavailable"
    http_status = 503

"""The HTTP API: a Starlette app served by hypercorn inside the service's event loop."""

from executor.http.app import create_app

__all__ = ["create_app"]

"""The instances page: every Executor process of the fleet as it registers itself, how long
since its last heartbeat (and whether that is past the timeout after which its peers take it
for dead), and how many steps it runs now. Its table refreshes itself."""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from executor.http.api import api
from executor.http.ui.render import html_errors, page
from executor.store.records import Instance


@dataclass(frozen=True)
class InstanceRow:
    instance: Instance
    in_flight: int
    age: float | None  # seconds since its last heartbeat

    @property
    def silent(self) -> bool:
        """Past its heartbeat timeout while not stopped: its peers will release it."""
        timeout = self.instance.heartbeat_timeout
        return (
            self.instance.state != "stopped"
            and self.age is not None
            and timeout is not None
            and self.age > timeout
        )


@html_errors
async def list_page(request: Request) -> Response:
    current = api(request)
    # This host's clock: on PostgreSQL heartbeats are the server's time, so a skew between
    # the two shows as age (seconds of it, not the timeout's scale on a synchronised host).
    now = time.time()
    rows = [
        InstanceRow(
            instance,
            in_flight,
            None if instance.heartbeat_at is None else max(0.0, now - instance.heartbeat_at),
        )
        for instance, in_flight in await current.engine.instances()
    ]
    return page(request, "instances.html", rows=rows, me=current.engine.instance_id)


routes = [Route("/ui/instances", list_page, methods=["GET"])]

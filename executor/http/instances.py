"""Routes: the instances registered on the database (a fleet), with their heartbeats and the
steps each runs now."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from executor.http import views
from executor.http.api import api, route


async def list_instances(request: Request) -> JSONResponse:
    found = await api(request).engine.instances()
    now = time.time()
    return JSONResponse({"instances": [views.instance(record, steps, now) for record, steps in found]})


routes = [route("/instances", GET=list_instances)]

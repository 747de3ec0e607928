"""The dashboard: server-rendered pages under ``/ui`` (Jinja2 + htmx, assets vendored in
``static/vendor``), reading and changing state through the engine like the JSON API.

Each page module exports ``routes``, gathered in `pages`; ``guard.Guard`` (installed by the
app factory) adds the security headers, the login gate and the CSRF check to all of them.
The app holds `Dashboard` in their place: the pages (and Jinja2, which renders them) are
imported at the dashboard's first request, not when the service starts.
"""

from __future__ import annotations

from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from executor.http.auth import UI_PREFIX

_MATCHED = "executor.dashboard_route"  # the scope's key for the page route `Dashboard` matched


class Dashboard(BaseRoute):
    """Stands for `pages.routes`, imported when a request first asks for ``/`` or ``/ui...``:
    it matches, handles and builds URLs exactly as they do, in their order."""

    def __init__(self) -> None:
        self._routes: list[BaseRoute] | None = None

    @property
    def routes(self) -> list[BaseRoute]:
        if self._routes is None:
            from executor.http.ui.pages import routes

            self._routes = routes
        return self._routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path in ("/", UI_PREFIX) or path.startswith(UI_PREFIX + "/")):
            return Match.NONE, {}
        partial: tuple[Match, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            # "route": the page's own (the router set this one), for whoever reads its path.
            found = (match, {**child, "route": route, _MATCHED: route})
            if match is Match.FULL:
                return found
            if match is Match.PARTIAL and partial is None:
                partial = found
        return partial or (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_MATCHED].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: object) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)


routes: list[BaseRoute] = [Dashboard()]

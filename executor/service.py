"""`executor serve`: the runtime (`executor.runtime`) with the HTTP server beside it.

`Service.run()` is the whole life of a serving process:

1. (idle) migrate (or check the schema), bind the listening socket, open the store,
   register workflows and this instance. A failure here releases whatever was opened and
   raises; the state stays idle. A stop requested here (SIGTERM/SIGINT) ends the start at
   once: the step under way is cancelled, and the state goes to stopped.
2. (running) serve HTTP and claim work until a stop is requested (SIGTERM/SIGINT).
3. (draining) stop claiming; health and read routes keep answering; wait for in-flight
   work up to the stop timeout; cancel and hand back the rest; keep HTTP up for the
   drain delay.
4. (stopped) close the HTTP server, mark the instance stopped, close the store.

A worker of `executor serve --workers N` (`executor.workers`) is a `Service` given what its
parent `Inherited`: the listening socket (bound, and the schema migrated, by the parent), where
READY=1 and STOPPING=1 go, and who asks it to stop (its parent, instead of signals).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager, AsyncExitStack
from dataclasses import dataclass

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from loguru import logger

from executor import __version__, migrate, systemd
from executor.engine import Engine
from executor.errors import StartupError
from executor.http import create_app
from executor.lifecycle import Interrupted, Lifecycle, State
from executor.runtime import Runtime
from executor.settings import Settings
from executor.signals import handle_stop_signals

# How long open HTTP requests get to finish once the drain is over.
HTTP_GRACE = 5.0
BACKLOG = 1024


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before anything else runs, so that a taken port fails the start at once. The
    socket listens only once the service is about to serve (`listen`): until then a
    connection is refused rather than left hanging while the database is opened."""
    try:
        family, type_, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, type_, proto)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


async def prepare_schema(settings: Settings, lifecycle: Lifecycle) -> None:
    """Migrate, or with ``--skip-migrations`` check that the schema is current; a stop
    requested meanwhile raises `Interrupted`."""
    database = settings.database
    if settings.skip_migrations:
        await migrate.in_thread(
            lifecycle, "checking the database schema", lambda _: migrate.check_schema(database)
        )
    else:
        timeout = settings.lock_timeout
        await migrate.in_thread(lifecycle, "migrating", lambda stop: migrate.apply(database, timeout, stop))


@dataclass(frozen=True)
class Inherited:
    """What a worker gets from its parent (`executor.workers`) instead of doing it itself."""

    sock: socket.socket  # bound by the parent (which migrated first); listening once a worker serves
    notify: Callable[[str], object]  # READY=1 and STOPPING=1 go to the parent, not to systemd
    controls: Callable[[Lifecycle], AbstractContextManager[None]]  # stop requests, instead of signals


class Service:
    def __init__(self, settings: Settings, inherited: Inherited | None = None) -> None:
        self.settings = settings
        self.inherited = inherited
        self.lifecycle = Lifecycle()
        self.engine: Engine | None = None
        self.port: int | None = None
        self._notify = systemd.notify if inherited is None else inherited.notify

    async def run(self) -> None:
        if self.lifecycle.state is not State.IDLE:
            raise StartupError(f"a {self.lifecycle.state.value} service cannot be started")
        controls = handle_stop_signals if self.inherited is None else self.inherited.controls
        with controls(self.lifecycle):
            try:
                if self.inherited is None:
                    await prepare_schema(self.settings, self.lifecycle)
                await self._open_and_serve()
            except Interrupted:
                if self.lifecycle.state is State.IDLE:  # else the runtime closed and said so
                    await self.lifecycle.transition(State.STOPPED)

    async def _open_and_serve(self) -> None:
        # A taken port fails the start before the store is opened.
        if self.inherited is None:
            sock = bind_socket(self.settings.host, self.settings.port)
        else:
            sock = self.inherited.sock
        phase = "opening the database"
        if self.settings.workflows is not None:
            phase += f" and registering the workflows of {self.settings.workflows}"
        try:
            async with AsyncExitStack() as stack:
                runtime = await self.lifecycle.unless_stopped(
                    phase, lambda: stack.enter_async_context(Runtime.open(self.settings, self.lifecycle))
                )
                self.engine = runtime.engine
                await self._serve(runtime, sock)
        finally:
            if sock.fileno() != -1:  # hypercorn never took it over
                sock.close()

    async def _serve(self, runtime: Runtime, sock: socket.socket) -> None:
        self.port = sock.getsockname()[1]
        try:
            sock.listen(BACKLOG)
        except OSError as exc:
            raise StartupError(f"cannot listen on port {self.port}: {exc.strerror or exc}") from exc
        http_stop = asyncio.Event()
        config = _hypercorn_config(sock)
        app = create_app(
            self.lifecycle,
            runtime.engine,
            scheduler=runtime.scheduler,
            tokens=self.settings.api_tokens,
            max_body=self.settings.max_body,
        )
        async with asyncio.TaskGroup() as group:
            http = group.create_task(serve(app, config, shutdown_trigger=http_stop.wait))  # type: ignore[arg-type]
            try:
                async with runtime.working(chores=True):
                    logger.bind(
                        instance=runtime.instance_id, database=self.settings.database.redacted()
                    ).info("executor {} running on http://{}:{}", __version__, self.settings.host, self.port)
                    self._notify("READY=1")

                    await _until_stop_or_failure(self.lifecycle.stop_requested, http)

                    draining_since = asyncio.get_running_loop().time()
                    self._notify("STOPPING=1")
                    logger.info("draining (stop timeout {}s)", self.settings.stop_timeout)
                    handed_back = await runtime.drain()
                    await self._drain_delay(since=draining_since)
                logger.bind(handed_back=handed_back).info("drained; closing the HTTP server")
            finally:
                http_stop.set()

    async def _drain_delay(self, since: float) -> None:
        """Hold the HTTP server open until `drain_delay` has passed since the drain began."""
        left = since + self.settings.drain_delay - asyncio.get_running_loop().time()
        if left > 0 and not self.lifecycle.abort_requested.is_set():
            try:
                await asyncio.wait_for(self.lifecycle.abort_requested.wait(), left)
            except TimeoutError:
                pass


async def _until_stop_or_failure(stop: asyncio.Event, http: asyncio.Task[None]) -> None:
    """Wait for the stop request, unless the HTTP server ends first (then raise its error)."""
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiter, http}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if http.done():
        http.result()
        raise StartupError("the HTTP server stopped unexpectedly")


def _hypercorn_config(sock: socket.socket) -> HypercornConfig:
    config = HypercornConfig()
    # Hypercorn takes over the bound socket; detach ours so the descriptor is closed once.
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = HTTP_GRACE
    return config

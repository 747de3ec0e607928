"""The composition root: store, claim loop and HTTP server under one TaskGroup.

`Service.run()` is the whole life of a serving process:

1. (idle) open the store, register this instance, bind the listening socket. A failure
   here releases whatever was opened and raises; the state stays idle.
2. (running) serve HTTP and claim work until a stop is requested (SIGTERM/SIGINT).
3. (draining) stop claiming; health and read routes keep answering; wait for in-flight
   work up to the stop timeout; cancel and hand back the rest.
4. (stopped) close the HTTP server, mark the instance stopped, close the store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from loguru import logger

from executor import __version__, systemd
from executor.actions.http import close_client
from executor.engine.catalog import register_folder
from executor.engine.engine import Engine
from executor.errors import ExecutorError, StartupError
from executor.http import create_app
from executor.lifecycle import Lifecycle, State
from executor.settings import Settings
from executor.signals import handle_stop_signals
from executor.store import Instance, Store, create_store

HEARTBEAT_INTERVAL = 10.0
# How long open HTTP requests get to finish once the drain is over.
HTTP_GRACE = 5.0


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen before anything else runs, so that a taken port fails the start."""
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
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lifecycle = Lifecycle()
        self.instance_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.engine: Engine | None = None
        self.port: int | None = None

    async def run(self) -> None:
        if self.lifecycle.state is not State.IDLE:
            raise StartupError(f"a {self.lifecycle.state.value} service cannot be started")
        store = create_store(self.settings.database, self.settings.pool_size)
        sock: socket.socket | None = None
        try:
            await store.open()
            engine = Engine(
                store,
                instance_id=self.instance_id,
                concurrency=self.settings.concurrency,
                poll_interval=self.settings.poll_interval,
                lease=self.settings.lease,
            )
            if self.settings.workflows is not None:
                await register_folder(engine, self.settings.workflows)
            sock = bind_socket(self.settings.host, self.settings.port)
            # Last: a start that fails earlier leaves no trace in the registry.
            await store.register_instance(self._instance(State.IDLE))
            recovered = await engine.recover_dead_local()
            if recovered:
                logger.info("reclaiming {} step(s) of instances on this host that died", recovered)
            self.engine = engine
        except BaseException:
            if sock is not None:
                sock.close()
            await store.close()
            raise
        try:
            with handle_stop_signals(self.lifecycle):
                await self._serve(store, engine, sock)
        finally:
            await self._close(store)

    def _instance(self, state: State) -> Instance:
        return Instance(
            id=self.instance_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            state=state.value,
        )

    async def _serve(self, store: Store, engine: Engine, sock: socket.socket) -> None:
        self.port = sock.getsockname()[1]
        http_stop = asyncio.Event()
        config = _hypercorn_config(sock)
        async with asyncio.TaskGroup() as group:
            http = group.create_task(
                serve(
                    create_app(  # type: ignore[arg-type]
                        self.lifecycle,
                        engine,
                        tokens=self.settings.api_tokens,
                        max_body=self.settings.max_body,
                    ),
                    config,
                    shutdown_trigger=http_stop.wait,
                )
            )
            claims = group.create_task(engine.loop.run())
            upkeep = group.create_task(engine.maintain())
            watcher = group.create_task(store.watch(engine.loop.wake))
            heartbeats = group.create_task(self._heartbeats(store))
            await self.lifecycle.transition(State.RUNNING)
            await store.heartbeat(self.instance_id, State.RUNNING.value)
            logger.bind(instance=self.instance_id, database=self.settings.database.redacted()).info(
                "executor {} running on http://{}:{}", __version__, self.settings.host, self.port
            )
            systemd.notify("READY=1")

            await _until_stop_or_failure(self.lifecycle.stop_requested, http)

            await self.lifecycle.transition(State.DRAINING)
            draining_since = asyncio.get_running_loop().time()
            systemd.notify("STOPPING=1")
            await _ignore_store_errors(store.heartbeat(self.instance_id, State.DRAINING.value))
            logger.info("draining (stop timeout {}s)", self.settings.stop_timeout)
            handed_back = await engine.loop.drain(
                self.settings.stop_timeout, abort=self.lifecycle.abort_requested
            )
            await claims
            upkeep.cancel()
            watcher.cancel()
            await self._drain_delay(since=draining_since)
            heartbeats.cancel()
            http_stop.set()
            logger.bind(handed_back=handed_back).info("drained; closing the HTTP server")

    async def _drain_delay(self, since: float) -> None:
        """Hold the HTTP server open until `drain_delay` has passed since the drain began."""
        left = since + self.settings.drain_delay - asyncio.get_running_loop().time()
        if left > 0 and not self.lifecycle.abort_requested.is_set():
            try:
                await asyncio.wait_for(self.lifecycle.abort_requested.wait(), left)
            except TimeoutError:
                pass

    async def _heartbeats(self, store: Store) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            await _ignore_store_errors(store.heartbeat(self.instance_id, self.lifecycle.state.value))

    async def _close(self, store: Store) -> None:
        if self.lifecycle.state is State.RUNNING:  # left _serve by an error, not by a drain
            await self.lifecycle.transition(State.DRAINING)
        await _ignore_store_errors(store.heartbeat(self.instance_id, State.STOPPED.value))
        await close_client()
        await store.close()
        await self.lifecycle.transition(State.STOPPED)
        logger.info("stopped")


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


async def _ignore_store_errors(operation: Awaitable[None]) -> None:
    try:
        await operation
    except ExecutorError as exc:
        logger.warning("instance registry not updated: {}", exc.message)


def _hypercorn_config(sock: socket.socket) -> HypercornConfig:
    config = HypercornConfig()
    # Hypercorn takes over the bound socket; detach ours so the descriptor is closed once.
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = HTTP_GRACE
    return config

"""The one runtime assembly: store, engine, claim loop and their upkeep, opened, run and
torn down in one place for every entry point (`executor serve` and `executor run`).

    async with Runtime.open(settings, lifecycle) as runtime:  # store open, instance registered
        async with runtime.working(chores=True):  # claim loop, leases, wake-ups, heartbeats,
            # and (with chores) schedules and retention; state running
            ...  # serve HTTP, or follow one run
            await runtime.drain()  # state draining: stop claiming, wait, hand back the rest
    # state stopped, instance marked stopped, store closed

Leaving `working()` without a drain (an error) drains at once: what is in flight is
cancelled and handed back, never left running behind a closed store.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from loguru import logger

from executor import __version__, tracing
from executor.actions import llm, shell
from executor.actions.http import close_client
from executor.artifacts import Artifacts, Limits
from executor.cancel import pause
from executor.engine import Engine
from executor.engine.catalog import register_folder
from executor.errors import ExecutorError
from executor.lifecycle import Lifecycle, State
from executor.retention import Retention
from executor.scheduler import Scheduler
from executor.settings import Settings
from executor.store import Instance, Store, create_store


def new_instance_id() -> str:
    """Unique per process start; readable in logs and in the instance registry."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Runtime:
    def __init__(self, settings: Settings, lifecycle: Lifecycle, store: Store, engine: Engine) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.store = store
        self.engine = engine
        self.scheduler = Scheduler(engine)
        # Lease upkeep, wake-ups and chores: stopped by the drain (the heartbeats go on
        # until the end).
        self._upkeep: list[asyncio.Task[None]] = []

    @property
    def instance_id(self) -> str:
        return self.engine.instance_id

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, lifecycle: Lifecycle) -> AsyncIterator[Runtime]:
        """Open the store, build the engine, register ``--workflows`` and this instance.

        A failure here closes what was opened and raises, leaving the lifecycle as it was.
        """
        shell.prepare(pass_env=settings.pass_env)
        llm.prepare(base_url=settings.llm_base_url, prices=settings.llm_prices)
        store = create_store(settings.database, pool_size=settings.pool_size)
        try:
            await store.open()
            engine = Engine(
                store,
                instance_id=new_instance_id(),
                concurrency=settings.concurrency,
                poll_interval=settings.poll_interval,
                lease=settings.lease,
                heartbeat_timeout=settings.heartbeat_timeout,
                max_lost_attempts=settings.max_lost_attempts,
                render_timeout=settings.render_timeout,
                artifacts=Artifacts(
                    store,
                    Limits(file=settings.artifact_max_file, run=settings.artifact_max_run),
                    settings.artifacts_dir,
                ),
            )
            if settings.workflows is not None:
                await register_folder(engine, settings.workflows)
            # Last: a start that fails earlier leaves no trace in the registry.
            await store.register_instance(
                _instance(engine.instance_id, lifecycle.state, settings.heartbeat_timeout)
            )
            recovered = await engine.leases.recover_dead_local()
            if recovered:
                logger.info("reclaiming {} step(s) of instances on this host that died", recovered)
        except BaseException:
            await store.close()
            raise
        if tracing.start(engine.instance_id):
            logger.info("tracing: exporting spans over OTLP/HTTP")
        runtime = cls(settings, lifecycle, store, engine)
        try:
            yield runtime
        finally:
            await runtime._close()

    @asynccontextmanager
    async def working(self, *, chores: bool = False) -> AsyncIterator[None]:
        """Claim and run work, keep leases, hear wake-ups, beat the heart; state `running`.
        With ``chores`` (a service, not `executor run`), also fire schedules and delete runs
        past their retention."""
        engine = self.engine
        async with asyncio.TaskGroup() as group:
            claims = group.create_task(engine.loop.run())
            self._upkeep = [
                group.create_task(engine.leases.maintain()),
                group.create_task(self.store.watch(engine.wake)),
            ]
            if chores:
                retention = Retention(
                    self.store,
                    owner=engine.instance_id,
                    default=self.settings.retention,
                    artifacts=engine.artifacts,
                )
                self._upkeep += [
                    group.create_task(self.scheduler.run()),
                    group.create_task(retention.run()),
                ]
            heartbeats = group.create_task(self._heartbeats())
            await self.lifecycle.transition(State.RUNNING)
            await _ignore_store_errors(self.store.heartbeat(self.instance_id, State.RUNNING.value))
            try:
                yield
            finally:
                # Shielded: a torn-down service must still hand its work back.
                await asyncio.shield(self.drain(timeout=0.0))
                heartbeats.cancel()
                # Waited for, not awaited: a claim loop that failed has its error raised
                # once, by the task group.
                await asyncio.wait([claims])

    async def drain(self, timeout: float | None = None) -> int:
        """Stop claiming; wait up to ``timeout`` (default: the stop timeout) for in-flight
        steps, or until an abort is requested; cancel and hand back the rest. Returns how
        many were handed back. Calling it again does nothing more."""
        if self.lifecycle.state is State.RUNNING:
            await self.lifecycle.transition(State.DRAINING)
            await _ignore_store_errors(self.store.heartbeat(self.instance_id, State.DRAINING.value))
        wait = self.settings.stop_timeout if timeout is None else timeout
        handed_back = await self.engine.loop.drain(wait, abort=self.lifecycle.abort_requested)
        # Nothing left to renew; a draining instance reaps nobody's leases.
        for task in self._upkeep:
            task.cancel()
        return handed_back

    async def _heartbeats(self) -> None:
        # Five beats per timeout: a peer takes this instance for dead only after four missed.
        while True:
            await pause(self.settings.heartbeat_timeout / 5)
            await _ignore_store_errors(self.store.heartbeat(self.instance_id, self.lifecycle.state.value))

    async def _close(self) -> None:
        if self.lifecycle.state is State.RUNNING:  # left without a drain: by an error
            await self.lifecycle.transition(State.DRAINING)
        await _ignore_store_errors(self.store.heartbeat(self.instance_id, State.STOPPED.value))
        await close_client()
        await self.store.close()
        await asyncio.to_thread(tracing.shutdown)  # the spans still queued are exported now
        await self.lifecycle.transition(State.STOPPED)
        logger.info("stopped")


def _instance(instance_id: str, state: State, heartbeat_timeout: float) -> Instance:
    return Instance(
        id=instance_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        version=__version__,
        state=state.value,
        heartbeat_timeout=heartbeat_timeout,
    )


async def _ignore_store_errors(operation: Awaitable[None]) -> None:
    try:
        await operation
    except ExecutorError as exc:
        logger.warning("instance registry not updated: {}", exc.message)

"""Render workers: child processes that render unbounded templates, where a runaway one
can be stopped.

A thread cannot be stopped and a render holds the GIL, so a template that loops for ever
or builds gigabytes is given to a worker process instead. The parent enforces the time
limit (it kills the worker and starts another when the next render needs one); the
worker limits its own memory (``RLIMIT_AS``) and the size of what it renders.

Workers are started lazily (at most `POOL_SIZE`) by running Executor again (``executor
__render``), at a lower CPU priority than the service. Parent and worker talk over the
worker's stdin and stdout, one JSON frame each way per render. A worker exits on end of
file on stdin, so it never outlives its parent's pipe; on Linux it also asks the kernel to
kill it when its parent dies (even mid-render). The pool works from any event loop: it
uses plain pipes, watched by whichever loop runs the render. A render waiting for a busy
worker does not count against its time limit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import subprocess
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from executor import frozen
from executor.render.worker import ENTRY, HEADER

POOL_SIZE = 2
START_TIMEOUT = 30.0  # to start and say it is ready


@dataclass(frozen=True)
class Reply:
    """What became of one render: ``value`` when ``kind`` is "value", else the reason
    (``kind``: "error" with the template's message, "timeout", "memory", "crashed")."""

    kind: str
    value: Any = None


class Worker:
    """One worker process; renders one template at a time."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._killed = False
        self._stdin = process.stdin.fileno()
        self._stdout = process.stdout.fileno()
        os.set_blocking(self._stdin, False)
        os.set_blocking(self._stdout, False)

    @classmethod
    async def start(cls) -> Worker:
        worker = cls(_spawn())
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await worker._receive()  # its ready frame
        except BaseException:
            worker.kill()
            raise
        return worker

    @property
    def alive(self) -> bool:
        return not self._killed and self.process.poll() is None

    async def render(self, request: bytes, limit: float) -> Reply:
        """Send one request; the reply, or "timeout" after ``limit`` seconds (the worker is
        killed), or "crashed". A cancelled render kills the worker too (it may be mid-frame)."""
        try:
            async with asyncio.timeout(limit):
                await _write(self._stdin, HEADER.pack(len(request)) + request)
                reply = await self._receive()
        except TimeoutError:
            self.kill()
            return Reply("timeout")
        except (EOFError, OSError):
            status = self._exit_status()
            self.kill()
            return Reply("crashed", status)
        except BaseException:
            self.kill()
            raise
        if reply.get("exit"):
            self.kill()  # it hit its memory limit: a fresh one is safer
        if "value" in reply:
            return Reply("value", reply["value"])
        return Reply(reply.get("kind", "error"), reply.get("error"))

    async def _receive(self) -> dict[str, Any]:
        (size,) = HEADER.unpack(await _read(self._stdout, HEADER.size))
        reply: dict[str, Any] = json.loads(await _read(self._stdout, size))
        return reply

    def _exit_status(self) -> str:
        code = self.process.poll()
        if code is None:
            return "it ended without a reply"
        return f"it was killed by signal {-code}" if code < 0 else f"it exited with code {code}"

    def kill(self) -> None:
        """Kill the process; reap it once it is gone, without blocking (a worker that used
        hundreds of MiB takes a while to unmap them)."""
        self._killed = True
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        _dying.add(self.process)
        _reap()


_dying: set[subprocess.Popen[bytes]] = set()  # killed, not yet reaped


def _reap(delay: float = 0.01) -> None:
    """Reap the killed workers that are gone; look again later for the others."""
    for process in list(_dying):
        if process.poll() is not None:
            _dying.discard(process)
    if not _dying:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop (at exit): they are gone in a moment
        for process in list(_dying):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(1)
            _dying.discard(process)
        return
    loop.call_later(delay, _reap, min(delay * 2, 1.0))


class WorkerPool:
    """At most ``size`` workers, started when needed, replaced when killed."""

    def __init__(self, size: int = POOL_SIZE, start: Callable[[], Awaitable[Worker]] = Worker.start) -> None:
        self.size = size
        self._start = start
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._starting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def render(self, request: bytes, limit: float) -> Reply:
        try:
            worker = await self._acquire()
        except (OSError, TimeoutError, EOFError) as exc:  # no worker could start
            return Reply("crashed", f"it could not start ({exc or type(exc).__name__})")
        try:
            return await worker.render(request, limit)
        finally:
            self._release(worker)

    async def _acquire(self) -> Worker:
        while True:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                self._forget(worker)
            if len(self._all) + self._starting < self.size:
                self._starting += 1
                try:
                    started = await self._start()
                except BaseException:
                    self._wake()  # a failed start frees its place
                    raise
                finally:
                    self._starting -= 1
                self._all.append(started)
                return started
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then cancelled: the turn goes to the next one
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _release(self, worker: Worker) -> None:
        if worker.alive:
            self._idle.append(worker)
        else:
            self._forget(worker)
        self._wake()

    def _forget(self, worker: Worker) -> None:
        with contextlib.suppress(ValueError):
            self._all.remove(worker)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Kill every worker and reap them (at exit; a render in flight ends "crashed")."""
        for worker in list(self._all):
            worker.kill()
        self._all.clear()
        self._idle.clear()
        for process in list(_dying):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            _dying.discard(process)


POOL = WorkerPool()
atexit.register(POOL.close)


def _spawn() -> subprocess.Popen[bytes]:
    # Forked by the event loop's thread, not a thread of an executor: Linux's parent-death
    # signal, which the worker asks for, fires when the thread that forked it ends.
    return subprocess.Popen(command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def command() -> list[str]:
    """How to start a worker: ``executor __render``."""
    return frozen.command(ENTRY)


# -- pipes from an event loop -----------------------------------------------------------


async def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _ready(fd, writing=True)


async def _read(fd: int, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = os.read(fd, min(size - len(data), 1 << 20))
        except BlockingIOError:
            await _ready(fd, writing=False)
            continue
        if not chunk:
            raise EOFError("the render worker closed its pipe")
        data += chunk
    return bytes(data)


async def _ready(fd: int, *, writing: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if writing:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if writing:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)

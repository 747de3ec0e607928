"""`executor serve --workers N`: N serving processes on one port and one database, so that
one machine's cores all work.

The parent migrates (or checks the schema) once, binds the port once, and starts N workers,
each Executor run again as ``executor __serve`` (the one-file binary starts itself the same
way: `executor.frozen`). A worker is a whole instance: its own instance id in the registry,
engine, claims, leases, heartbeats, chores and supervisor of shell commands, exactly as an
instance of a fleet on the same database. Each serves HTTP on the listening socket it
inherits (hypercorn's ``fd://`` bind, as hypercorn's own multi-worker mode shares its
sockets); the kernel gives each new connection to one of the workers accepting. The parent
closes its copy once they hold it, so the port closes with the last worker.

The parent talks to a worker over two pipes. Down (its stdin): one JSON line with the raw
settings (API tokens never appear in an argv or an environment), the socket's descriptor and
the worker's index; then orders, ``stop`` (drain) and ``abort`` (stop at once); end of file
means the parent is gone, and the worker drains. Up (its stdout): ``READY=1`` once running,
``STOPPING=1`` when its drain starts. The worker moves both pipes away from 0 and 1 first, so
nothing it starts inherits them.

Signals belong to the parent, as to a single service: the first SIGTERM/SIGINT drains, a
second stops at once, and it passes each on as an order. Workers ignore the signals sent to
them directly (a terminal's Ctrl-C reaches the whole process group, systemd's default
``KillMode=control-group`` signals every process): a worker hears each stop once. Under
systemd the parent sends ``READY=1`` once every worker is running and ``STOPPING=1`` when it
starts the drain; workers never see ``NOTIFY_SOCKET``.

A worker that ends without being told to (a crash, ``kill -9``, the OOM killer) ends the
service: the parent tells the others to drain, waits for them and exits 1, so that systemd
(``Restart=on-failure``) or the container's restart policy starts it again whole, as after the
death of a single process (hypercorn's multi-worker mode does the same). No respawning here:
a restart policy already exists one level up, and a second one would hide a crash loop. The
parent exits 0 when every worker exited 0 after the stop it passed on, else 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from loguru import logger

from executor import __version__, frozen, log, systemd
from executor.errors import ExecutorError
from executor.lifecycle import Interrupted, Lifecycle, State
from executor.service import Inherited, Service, bind_socket, prepare_schema
from executor.settings import Settings, parse_settings
from executor.signals import handle_stop_signals, ignore_stop_signals

# The hidden command that runs a worker: `executor __serve` (executor/__main__.py).
ENTRY = "__serve"
STOP, ABORT = "stop", "abort"
READY, STOPPING = "READY=1", "STOPPING=1"


@dataclass
class Worker:
    """The parent's handle on one worker process."""

    index: int
    process: asyncio.subprocess.Process
    orders: int  # the write end of the worker's stdin
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return f"worker {self.index} (pid {self.process.pid})"

    def order(self, what: str) -> None:
        try:
            os.write(self.orders, f"{what}\n".encode())
        except OSError:  # it is gone: its exit is seen and reported elsewhere
            pass

    async def follow(self) -> None:
        """Read its reports until it closes its end."""
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            if line.strip() == READY.encode():
                self.ready.set()

    def exit_text(self) -> str:
        code = self.process.returncode
        if code is not None and code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with {code}"


class Workers:
    """The parent: migrate, bind, start the workers, pass stops on, report how they ended."""

    def __init__(self, settings: Settings, given: Mapping[str, str | bool | None]) -> None:
        self.settings = settings
        self.given = dict(given)
        self.lifecycle = Lifecycle()
        self.port: int | None = None

    async def run(self) -> int:
        """The exit code: 0 when every worker stopped cleanly after a stop was asked for."""
        with handle_stop_signals(self.lifecycle):
            try:
                await prepare_schema(self.settings, self.lifecycle)
            except Interrupted:
                await self.lifecycle.transition(State.STOPPED)
                return 0
            sock = bind_socket(self.settings.host, self.settings.port)
            self.port = sock.getsockname()[1]
            workers: list[Worker] = []
            try:
                for index in range(1, self.settings.workers + 1):
                    workers.append(await self._start(index, sock))
            except BaseException:
                for worker in workers:
                    worker.order(ABORT)
                await asyncio.gather(*(worker.process.wait() for worker in workers))
                for worker in workers:
                    os.close(worker.orders)
                raise
            finally:
                sock.close()  # the workers hold it: the port closes with the last of them
            try:
                return await self._supervise(workers)
            finally:
                for worker in workers:
                    os.close(worker.orders)

    async def _start(self, index: int, sock: socket.socket) -> Worker:
        read, write = os.pipe()  # neither end is inherited by the other workers
        env = {name: value for name, value in os.environ.items() if name != "NOTIFY_SOCKET"}
        try:
            process = await asyncio.create_subprocess_exec(
                *frozen.command(ENTRY),
                stdin=read,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                pass_fds=(sock.fileno(),),
            )
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        worker = Worker(index, process, write)
        worker.order(json.dumps({"settings": self.given, "socket": sock.fileno(), "index": index}))
        return worker

    async def _supervise(self, workers: list[Worker]) -> int:
        await self.lifecycle.transition(State.RUNNING)
        reports = [asyncio.create_task(worker.follow()) for worker in workers]
        ready = asyncio.create_task(self._when_ready(workers))
        exits = {asyncio.create_task(worker.process.wait()): worker for worker in workers}
        stop = asyncio.create_task(self.lifecycle.stop_requested.wait())
        abort = asyncio.create_task(self._pass_on_abort(workers))
        failed: list[Worker] = []
        try:
            done, _ = await asyncio.wait({stop, *exits}, return_when=asyncio.FIRST_COMPLETED)
            failed = [exits[task] for task in done if task in exits]
            for worker in failed:
                logger.bind(worker=worker.index).error(
                    "{} {} without being told to: stopping the others", worker.name, worker.exit_text()
                )
                self.lifecycle.request_stop()  # so that a signal now means "stop at once"
            ready.cancel()
            await self.lifecycle.transition(State.DRAINING)
            systemd.notify(STOPPING)
            for worker in workers:
                worker.order(STOP)
            await asyncio.wait(exits)
        finally:
            for task in (stop, abort, ready, *reports):
                task.cancel()
        clean = not failed
        for worker in workers:
            if worker not in failed and not _stopped_cleanly(worker.process.returncode):
                logger.bind(worker=worker.index).error("{} {}", worker.name, worker.exit_text())
                clean = False
        await self.lifecycle.transition(State.STOPPED)
        logger.info("all workers stopped")
        return 0 if clean else 1

    async def _when_ready(self, workers: list[Worker]) -> None:
        await asyncio.gather(*(worker.ready.wait() for worker in workers))
        logger.bind(pids=[w.process.pid for w in workers]).info(
            "executor {}: {} workers running on http://{}:{}",
            __version__,
            len(workers),
            self.settings.host,
            self.port,
        )
        systemd.notify(READY)

    async def _pass_on_abort(self, workers: list[Worker]) -> None:
        await self.lifecycle.abort_requested.wait()
        for worker in workers:
            worker.order(ABORT)


def _stopped_cleanly(code: int | None) -> bool:
    # Killed by SIGINT/SIGTERM is clean too: a signal sent to the whole process group can
    # reach a worker in its first milliseconds, before it ignores them.
    return code in (0, -signal.SIGINT, -signal.SIGTERM)


# -- the worker's side -------------------------------------------------------------------


class ParentOrders:
    """A worker's stop requests: the orders its parent writes, instead of signals."""

    def __init__(self, fd: int, pending: bytes) -> None:
        self.fd = fd
        self.buffer = pending

    @contextmanager
    def __call__(self, lifecycle: Lifecycle) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        parent = os.getppid()

        def obey(what: str) -> None:
            # As `handle_stop_signals` does with a signal: a stop while starting ends the start.
            if lifecycle.state is State.IDLE:
                logger.info("told to stop while {}: stopping", lifecycle.phase)
                lifecycle.request_abort()
            elif what == ABORT:
                logger.warning("told to stop at once")
                lifecycle.request_abort()
            elif not lifecycle.stop_requested.is_set():
                logger.info("told to stop: draining")
                lifecycle.request_stop()

        def take(data: bytes) -> None:
            *lines, self.buffer = (self.buffer + data).split(b"\n")
            for line in lines:
                obey(line.decode().strip())

        def on_readable() -> None:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                return
            if data:
                take(data)
            else:
                loop.remove_reader(self.fd)
                logger.warning("the parent (pid {}) is gone: draining", parent)
                obey(STOP)

        os.set_blocking(self.fd, False)
        loop.add_reader(self.fd, on_readable)
        take(b"")  # orders that came with the settings
        try:
            with ignore_stop_signals(f"a worker stops when its parent (pid {parent}) says so"):
                yield
        finally:
            loop.remove_reader(self.fd)


def _reporter(fd: int) -> Callable[[str], object]:
    def report(message: str) -> None:
        try:
            os.write(fd, f"{message}\n".encode())
        except OSError:  # the parent is gone; its end of file on the orders tells the rest
            pass

    return report


def _first_line(fd: int) -> tuple[bytes, bytes]:
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SystemExit(1)  # the parent died before it said anything
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line, rest


def worker_main() -> None:
    """`executor __serve`: one worker; its settings and orders come on stdin (see above)."""
    # The pipes move off 0 and 1 (to descriptors nothing it starts inherits); 0 reads
    # nothing, 1 goes where the log goes.
    orders, reports = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    line, pending = _first_line(orders)
    given = json.loads(line)
    try:
        settings = parse_settings(stderr_is_tty=sys.stderr.isatty(), **given["settings"])
    except ExecutorError as exc:
        print(f"executor: error: {exc.message}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    log.configure(settings.log_level, settings.log_format)
    logger.configure(extra={"worker": given["index"]})
    inherited = Inherited(
        sock=socket.socket(fileno=given["socket"]),
        notify=_reporter(reports),
        controls=ParentOrders(orders, pending),
    )
    try:
        asyncio.run(Service(settings, inherited).run())
    except ExecutorError as exc:
        print(f"executor: error: {exc.message}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None

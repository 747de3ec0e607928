"""The one owner of SIGTERM and SIGINT.

The handlers are installed when a command starts (`executor serve`, `migrate`, `run`), so
that a signal is obeyed in every phase. While the lifecycle is still idle (migrating,
opening the database, registering workflows), a signal ends the start: the step under way
is cancelled (`Lifecycle.unless_stopped`) and the process exits. Once running, the first
signal asks the service to drain; a second one, while it drains, asks it to stop at once.
Hypercorn is started with a ``shutdown_trigger`` so that it installs no handlers of its own;
the handlers here are removed again (and the earlier ones restored) on exit. A worker of
`executor serve --workers` takes its stops from its parent instead (`ignore_stop_signals`).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from loguru import logger

from executor.lifecycle import Lifecycle, State

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def handle_stop_signals(lifecycle: Lifecycle) -> Iterator[None]:
    def on_signal(sig: signal.Signals) -> None:
        if lifecycle.stop_requested.is_set():
            logger.warning("received {} again: stopping at once", sig.name)
            lifecycle.request_abort()
        elif lifecycle.state is State.IDLE:
            # Nothing runs yet: nothing to drain, nothing to wait for.
            logger.info("received {} while {}: stopping", sig.name, lifecycle.phase)
            lifecycle.request_abort()
        else:
            logger.info("received {}: draining (send it again to stop at once)", sig.name)
            lifecycle.request_stop()

    with _handling(on_signal):
        yield


@contextmanager
def ignore_stop_signals(why: str) -> Iterator[None]:
    """Log SIGTERM and SIGINT (saying ``why``) and do nothing more: for a worker of `serve
    --workers`, whose parent passes stops on. A handler, not SIG_IGN, so that the commands
    it starts do not inherit the ignoring."""

    def on_signal(sig: signal.Signals) -> None:
        logger.warning("{} ignored: {}", sig.name, why)

    with _handling(on_signal):
        yield


@contextmanager
def _handling(on_signal: Callable[[signal.Signals], None]) -> Iterator[None]:
    """``on_signal`` handles SIGTERM and SIGINT on the running loop; the earlier handlers
    come back on exit."""
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])

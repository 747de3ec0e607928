"""The render worker's side: render one request at a time, under a memory and size limit.

Started by `workers.Worker.start` as ``executor __render`` (`ENTRY`, dispatched by
``executor/__main__.py``). Frames on stdin and stdout are a 4-byte big-endian length and a JSON
object: a request ``{"source", "context", "max_chars"}``, a reply ``{"value"}`` or
``{"kind", "error"}``. The first frame out says that the worker is ready. The time limit
is the parent's to enforce: it kills the worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import sys
from typing import IO, Any

from executor import frozen

ENTRY = "__render"  # the hidden command that runs a worker: `executor __render` (executor/__main__.py)
HEADER = struct.Struct(">I")
MEMORY_LIMIT = 512 * 1024 * 1024  # bytes of address space a worker may add to what it had at start
MAX_CHARS = 8 * 1024 * 1024  # characters (of a string) or JSON bytes (of a value) one render may give
NICE = 10  # added to the worker's niceness: the service comes first


def main() -> None:
    """A worker's life: render requests from stdin until end of file."""
    frozen.die_with_parent()  # even in the middle of a render
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops us
    with contextlib.suppress(OSError):
        os.nice(NICE)  # a runaway render must not take the CPU from the service's event loop
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt a frame
    from executor.workflow.expressions import render_template  # before the memory limit

    _limit_memory()
    send(replies, {"ready": os.getpid()})
    while (request := receive(sys.stdin.buffer)) is not None:
        reply = _render(render_template, request)
        send(replies, reply)
        if reply.get("exit"):
            return


def _render(render_template: Any, request: dict[str, Any]) -> dict[str, Any]:
    from executor.errors import ExpressionError

    max_chars = int(request.get("max_chars", MAX_CHARS))
    try:
        value = render_template(request["source"], request["context"], max_chars)
        reply = {"value": value}
        if not isinstance(value, str) and len(json.dumps(reply, default=str)) > max_chars:
            return {"kind": "error", "error": f"{request['source']}: gives more than {max_chars:,} bytes"}
        return reply
    except ExpressionError as exc:
        return {"kind": "error", "error": exc.message}
    except MemoryError:
        return {"kind": "memory", "exit": True}


def send(out: IO[bytes], message: dict[str, Any]) -> None:
    payload = json.dumps(message, default=str).encode()
    out.write(HEADER.pack(len(payload)) + payload)
    out.flush()


def receive(source: IO[bytes]) -> dict[str, Any] | None:
    """The next request, or None at end of file (the parent is gone or done with us)."""
    header = source.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    message: dict[str, Any] = json.loads(source.read(size))
    return message


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the size limit still holds
        return
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + MEMORY_LIMIT
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

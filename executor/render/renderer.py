"""Rendering a workflow value's templates so that no template can starve the service.

A bounded template (`bounds.is_bounded`) renders here, at once. Any other goes to a render
worker (`workers`) under a time limit (``--render-timeout``, or the step's ``timeout`` when
it is shorter: an hour-long step is no reason for an hour-long render),
a memory limit and a size limit; over one of them the render fails with an
`ExpressionError` naming the field and the template, e.g. ``with.command: {% for ...
%}: template rendering exceeded 10s``.

Inside a store transaction (``when``, ``for_each``, ``outputs``) a slow render must not hold
the transaction, which every commit of the instance shares. There a render waits only
`TRANSACTION_WAIT` for its worker; if it is not done by then, `RenderPending` is raised:
the transaction rolls back, the engine waits for the render outside of it and runs the
change again, which then finds the result (kept by the request it answers: the same
template on the same context).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from executor.durations import format_duration
from executor.errors import ExpressionError
from executor.render import worker, workers
from executor.workflow.expressions import is_template, iter_templates, names_read, render_template

DEFAULT_TIMEOUT = 10.0
TRANSACTION_WAIT = 0.02  # how long a render may hold a transaction before it is taken out
KEEP = 60.0  # seconds a finished render waits for the change that asked for it to run again


class RenderPending(Exception):
    """A render inside a transaction is still running: roll back, `wait`, run the change again.

    Deliberately not an `ExecutorError`: the moves that turn a template's error into a
    failed step must let it through to the engine."""

    def __init__(self, job: asyncio.Future[workers.Reply]) -> None:
        super().__init__("a template is still rendering")
        self.job = job

    async def wait(self) -> None:
        await asyncio.wait({self.job})


class _Unbounded(Exception):
    """A template for a worker, met while walking a value."""

    def __init__(self, source: str) -> None:
        self.source = source


class _Failed(Exception):
    """A template that failed here, met while walking a value."""

    def __init__(self, source: str, error: ExpressionError) -> None:
        self.source = source
        self.error = error


class Renderer:
    def __init__(self, timeout: float = DEFAULT_TIMEOUT, pool: workers.WorkerPool | None = None) -> None:
        self.timeout = timeout
        self.pool = pool or workers.POOL
        self._jobs: dict[bytes, asyncio.Future[workers.Reply]] = {}

    async def render(
        self,
        value: Any,
        context: Mapping[str, Any],
        *,
        where: str,
        timeout: float | None = None,
        in_transaction: bool = False,
    ) -> Any:
        """``value`` with every template rendered; ``where`` names it in errors (``with``,
        ``when``...); ``timeout`` (the step's) lowers the time limit, never raises it."""
        rendered: dict[str, Any] = {}  # template → value, of the templates given to a worker
        while True:
            try:
                return _walk(value, context, rendered)
            except _Unbounded as need:
                limit = self.timeout if timeout is None else min(timeout, self.timeout)
                reply = await self._unbounded(need.source, context, limit, in_transaction)
                rendered[need.source] = _value(_path(value, where, need.source), need.source, reply, limit)
            except _Failed as failed:
                path = _path(value, where, failed.source)
                raise ExpressionError(f"{path}: {failed.error.message}") from failed.error

    async def _unbounded(
        self, source: str, context: Mapping[str, Any], limit: float, in_transaction: bool
    ) -> workers.Reply:
        request = _request(source, context, sort=in_transaction)
        if not in_transaction:
            return await self.pool.render(request, limit)
        key = hashlib.sha256(request).digest() + str(limit).encode()
        job = self._jobs.get(key)
        if job is None or job.cancelled():
            job = self._jobs[key] = asyncio.ensure_future(self.pool.render(request, limit))
            job.add_done_callback(lambda done: self._keep(key, done))
        if not job.done():
            await asyncio.wait({job}, timeout=TRANSACTION_WAIT)
        if not job.done():
            raise RenderPending(job)
        return job.result()

    def _keep(self, key: bytes, job: asyncio.Future[workers.Reply]) -> None:
        def forget() -> None:
            if self._jobs.get(key) is job:
                del self._jobs[key]

        asyncio.get_running_loop().call_later(KEEP, forget)


def _walk(value: Any, context: Mapping[str, Any], rendered: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {key: _walk(item, context, rendered) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, context, rendered) for item in value]
    if not is_template(value):
        return value
    if value in rendered:
        return rendered[value]
    from executor.workflow.bounds import is_bounded  # here: it brings Jinja2, a service starts without it

    if not is_bounded(value):
        raise _Unbounded(value)
    try:
        return render_template(value, context)
    except ExpressionError as exc:
        raise _Failed(value, exc) from None


def _path(value: Any, where: str, source: str) -> str:
    """Where ``source`` is in ``value``, for messages: ``with.command[1]``, ``when``."""
    for relative, found in iter_templates(value):
        if found == source:
            return f"{where}.{relative}" if relative and relative[0] != "[" else where + relative
    return where


def _request(source: str, context: Mapping[str, Any], *, sort: bool) -> bytes:
    # Only what the template reads: less to send, and a key that other changes leave alone.
    read = {name: context[name] for name in names_read(source) if name in context}
    request = {"source": source, "context": read, "max_chars": worker.MAX_CHARS}
    try:
        # Sorted when the request is also the key of its result: the same context, the same key.
        return json.dumps(request, default=str, sort_keys=sort).encode()
    except TypeError:  # keys of mixed types do not sort
        return json.dumps(request, default=str).encode()


def _value(path: str, source: str, reply: workers.Reply, limit: float) -> Any:
    if reply.kind == "value":
        return reply.value
    if reply.kind == "error":
        raise ExpressionError(f"{path}: {reply.value}")
    if reply.kind == "timeout":
        reason = f"template rendering exceeded {format_duration(limit)}"
    elif reply.kind == "memory":
        reason = f"template rendering exceeded its memory limit ({worker.MEMORY_LIMIT // 2**20} MiB)"
    else:
        reason = f"the render worker failed: {reply.value}"
    raise ExpressionError(f"{path}: {source}: {reason}")

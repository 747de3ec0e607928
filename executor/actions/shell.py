"""`shell`: run a command; its output streams into the step's log line by line.

Output of any shape is fine: lines of any length (a longer one is logged in marked pieces),
binary output, a last line without a newline. The command inherits the service's environment
except Executor's own ``EXECUTOR_*`` configuration (but the variables ``--pass-env`` names).

The command runs in a process group of its own, so that a timeout or a cancel ends
everything it started: SIGTERM to the group, then SIGKILL after `KILL_GRACE` seconds. The
service's supervisor (`executor.supervisor`) knows the group, and kills it if the service
dies first. A retried attempt first kills what an earlier attempt of its step may have left
running on this host, so that two never run side by side.
Result: ``{exit_code, stdout, stderr, json}``; ``json`` is stdout parsed when it is JSON.
A non-zero exit fails the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterable
from typing import Any

from loguru import logger

from executor import supervisor, tracing
from executor.actions.base import json_or_none
from executor.actions.context import Attempt
from executor.actions.outcomes import Failed, Outcome, Succeeded
from executor.actions.specs import ShellSpec

KILL_GRACE = 5.0
# What the result keeps of each stream (whole lines, unless the first is longer than this);
# the log keeps every line.
KEEP_BYTES = 1 << 20
# The streams are read in chunks of this size, never a whole line at once: a line may be
# any length, and memory stays bounded by these two constants whatever the command prints.
READ_BYTES = 1 << 16
# A longer line reaches the log in pieces of at most this many bytes; every piece but the
# last ends with `CONTINUES`.
LOG_LINE_BYTES = 1 << 16
CONTINUES = "… [line continues]"
# Executor's own configuration (token, database URL, secrets...) stays out of commands: the
# only variables with this prefix a command sees are the per-attempt ones set below, and
# those the operator passes (`prepare`).
OWN_PREFIX = "EXECUTOR_"

_passed: frozenset[str] = frozenset()
_supervisor = supervisor.Supervisor()


def prepare(pass_env: Iterable[str]) -> None:
    """Ready the action for this service (the runtime calls it when it opens): commands see
    the ``EXECUTOR_*`` variables ``pass_env`` names too (``--pass-env``), and the supervisor
    starts now, so that it already watches when the first command starts."""
    global _passed
    _passed = frozenset(pass_env)
    _supervisor.start()


def _utf8_cut(data: bytes | bytearray, limit: int) -> int:
    """Where to cut ``data`` at most ``limit`` bytes in, not inside a UTF-8 character."""
    if len(data) <= limit:
        return len(data)
    cut = limit
    # Back up over continuation bytes (10xxxxxx); a character has three at most.
    while cut > limit - 3 and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut


def _text(data: bytes | bytearray) -> str:
    # Binary output is kept as text: invalid UTF-8 and NUL (which PostgreSQL text and JSON
    # refuse) become U+FFFD.
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


class _Stream:
    def __init__(self, name: str, attempt: Attempt) -> None:
        self.name = name
        self.attempt = attempt
        self.kept = bytearray()
        self.full = False
        self.line = bytearray()  # the current line's bytes not logged yet

    async def pump(self, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(READ_BYTES):
            self._keep(chunk)
            self._split(chunk)
        if self.line:  # the last line had no newline
            self._end_line()

    def _keep(self, chunk: bytes) -> None:
        if self.full:
            return
        room = KEEP_BYTES - len(self.kept)
        if len(chunk) >= room:
            self.full = True
        self.kept += chunk[: _utf8_cut(chunk, room)]

    def _split(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            self.line += chunk[start:end]
            self._end_line()
            start = end + 1
        self.line += chunk[start:]
        # An unfinished line goes to the log in pieces as it grows, never held whole.
        while len(self.line) > LOG_LINE_BYTES:
            self._log_piece()

    def _end_line(self) -> None:
        while len(self.line) > LOG_LINE_BYTES:
            self._log_piece()
        self.attempt.log(self.name, _text(self.line))
        self.line = bytearray()

    def _log_piece(self) -> None:
        cut = self.attempt.safe_cut(self.line, _utf8_cut(self.line, LOG_LINE_BYTES))
        self.attempt.log(self.name, _text(self.line[:cut]) + CONTINUES)
        del self.line[:cut]

    @property
    def text(self) -> str:
        kept = self.kept
        if self.full and (end := kept.rfind(b"\n")) >= 0:
            # Cut at a line's end, not inside a line: secrets are masked in the stored result
            # by their whole value, and a cut one would leave its start unmasked.
            kept = kept[: end + 1]
        return _text(kept)


def _argv(command: Any) -> list[str]:
    if isinstance(command, list):
        return [str(part) for part in command]
    return ["/bin/sh", "-c", str(command)]


def _kill_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def _end_earlier_attempts(attempt: Attempt) -> None:
    """Kill what earlier attempts of this step left running on this host: processes that
    carry the step's idempotency key but another attempt number in their environment.

    The supervisor of a service that died kills them within milliseconds, long before a
    restarted service gets here; this makes it certain, and covers a command that escaped
    its group. Only retries pay for it (one pass over /proc)."""
    if attempt.attempt <= 1:
        return
    step = f"EXECUTOR_IDEMPOTENCY_KEY={attempt.idempotency_key}".encode()
    this = f"EXECUTOR_ATTEMPT={attempt.attempt}".encode()
    found = await asyncio.to_thread(
        supervisor.sweep, lambda env: step in env and this not in env, supervisor.SWEEP_TIMEOUT
    )
    if found:
        logger.bind(run_id=attempt.run_id, step=attempt.step_id).warning(
            "killed {} process(es) left by an earlier attempt", found
        )


class Shell(ShellSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        params = attempt.params
        env = {
            **{
                name: value
                for name, value in os.environ.items()
                if not name.startswith(OWN_PREFIX) or name in _passed
            },
            **{str(k): str(v) for k, v in (params.get("env") or {}).items()},
            "EXECUTOR_RUN_ID": attempt.run_id,
            "EXECUTOR_STEP_ID": attempt.step_id,
            "EXECUTOR_ATTEMPT": str(attempt.attempt),
            "EXECUTOR_IDEMPOTENCY_KEY": attempt.idempotency_key,
            "EXECUTOR_INSTANCE_ID": attempt.instance,
        }
        if attempt.item_index >= 0:
            env["EXECUTOR_ITEM_INDEX"] = str(attempt.item_index)
        if attempt.artifacts_dir is not None:  # what the command leaves here becomes artifacts
            env["EXECUTOR_ARTIFACTS_DIR"] = attempt.artifacts_dir
        traceparent = tracing.current_traceparent()
        if traceparent is not None:
            env["TRACEPARENT"] = traceparent  # the attempt's span (tracing on): a command's parent
        stdin = params.get("stdin")
        await _end_earlier_attempts(attempt)
        _supervisor.expect(attempt.instance)
        spawning = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *_argv(params["command"]),
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=params.get("cwd"),
                env=env,
                start_new_session=True,  # its own process group, to be killed as one
            )
        )
        try:
            process = await asyncio.shield(spawning)
        except OSError as exc:
            return Failed(f"cannot start command: {exc}")
        except asyncio.CancelledError:
            # Cancelled while the command was starting (a drain, a cancel): asyncio would kill
            # only its first process and then wait for the pipes that its children hold (a
            # `sleep 30` behind `sh -c` kept a drain waiting 30 s). Let the start finish and
            # end the whole group, as for a cancel later on.
            with contextlib.suppress(OSError):
                started = await spawning
                _kill_group(started, signal.SIGKILL)
                await started.wait()
            raise
        _supervisor.started(process.pid)
        out, err = _Stream("stdout", attempt), _Stream("stderr", attempt)
        assert process.stdout is not None and process.stderr is not None
        try:
            if stdin is not None:
                assert process.stdin is not None
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    process.stdin.write(str(stdin).encode())
                    await process.stdin.drain()
                process.stdin.close()
            await asyncio.gather(out.pump(process.stdout), err.pump(process.stderr))
            code = await process.wait()
        except BaseException:
            # Timeout, cancel or drain: end the whole group, politely first.
            _kill_group(process, signal.SIGTERM)
            try:
                await asyncio.shield(asyncio.wait_for(process.wait(), KILL_GRACE))
            except TimeoutError:
                _kill_group(process, signal.SIGKILL)
                await asyncio.shield(process.wait())
            raise
        finally:
            # Whatever the command left behind in its group goes with it.
            _kill_group(process, signal.SIGKILL)
            _supervisor.ended(process.pid)
        result = {"exit_code": code, "stdout": out.text, "stderr": err.text, "json": json_or_none(out.text)}
        if code != 0:
            tail = err.text.strip().splitlines()[-1:] or out.text.strip().splitlines()[-1:]
            reason = f"exit code {code}" if code > 0 else f"killed by signal {-code}"
            error = f"command failed ({reason})" + (f": {tail[0][:500]}" if tail else "")
            return Failed(error, result=result)
        return Succeeded(result)

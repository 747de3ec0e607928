"""`shell`: run a command; its output streams into the step's log line by line.

The command runs in a process group of its own, so that a timeout or a cancel ends
everything it started: SIGTERM to the group, then SIGKILL after `KILL_GRACE` seconds.
Result: ``{exit_code, stdout, stderr, json}``; ``json`` is stdout parsed when it is JSON.
A non-zero exit fails the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from executor.actions.base import json_or_none
from executor.actions.context import Attempt
from executor.actions.outcomes import Failed, Outcome, Succeeded
from executor.actions.specs import ShellSpec

KILL_GRACE = 5.0
# What the result keeps of each stream; the log keeps every line.
KEEP_BYTES = 1 << 20


class _Stream:
    def __init__(self, name: str, attempt: Attempt) -> None:
        self.name = name
        self.attempt = attempt
        self.kept: list[str] = []
        self.size = 0

    async def pump(self, reader: asyncio.StreamReader) -> None:
        while True:
            raw = await reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace")
            self.attempt.log(self.name, line.rstrip("\n"))
            if self.size < KEEP_BYTES:
                self.kept.append(line)
                self.size += len(raw)

    @property
    def text(self) -> str:
        return "".join(self.kept)


def _argv(command: Any) -> list[str]:
    if isinstance(command, list):
        return [str(part) for part in command]
    return ["/bin/sh", "-c", str(command)]


def _kill_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


class Shell(ShellSpec):
    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        params = attempt.params
        env = {
            **os.environ,
            **{str(k): str(v) for k, v in (params.get("env") or {}).items()},
            "EXECUTOR_RUN_ID": attempt.run_id,
            "EXECUTOR_STEP_ID": attempt.step_id,
            "EXECUTOR_ATTEMPT": str(attempt.attempt),
            "EXECUTOR_IDEMPOTENCY_KEY": attempt.idempotency_key,
            "EXECUTOR_INSTANCE_ID": attempt.instance,
        }
        if attempt.item_index >= 0:
            env["EXECUTOR_ITEM_INDEX"] = str(attempt.item_index)
        stdin = params.get("stdin")
        try:
            process = await asyncio.create_subprocess_exec(
                *_argv(params["command"]),
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=params.get("cwd"),
                env=env,
                start_new_session=True,  # its own process group, to be killed as one
            )
        except OSError as exc:
            return Failed(f"cannot start command: {exc}")
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
        result = {"exit_code": code, "stdout": out.text, "stderr": err.text, "json": json_or_none(out.text)}
        if code != 0:
            tail = err.text.strip().splitlines()[-1:] or out.text.strip().splitlines()[-1:]
            reason = f"exit code {code}" if code > 0 else f"killed by signal {-code}"
            return Failed(f"command failed ({reason})" + (f": {tail[0][:500]}" if tail else ""))
        return Succeeded(result)

"""The real `executor` as a subprocess: the CLI under this interpreter, or the frozen binary."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("EXECUTOR_BINARY", ROOT / "dist" / "executor"))
CLI = [sys.executable, "-m", "executor"]
_RUNNING = re.compile(r"running on http://([^:]+):(\d+)")


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting to be reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus any EXECUTOR_* the developer has set, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR_") and k != "NOTIFY_SOCKET"}
    env.update(extra)
    return env


def run(
    command: list[str], *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )


@dataclass
class Server:
    """One serving executor process, its log in a file, its port read from that log."""

    command: list[str]
    cwd: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=clean_env)
    process: subprocess.Popen[bytes] | None = None
    port: int | None = None

    @property
    def log_path(self) -> Path:
        return self.cwd / "executor.log"

    def start(self, new_session: bool = False) -> Server:
        """Launch; ``new_session`` puts it in a process group of its own (for killpg)."""
        self.log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*self.command, "--port", "0", "--log-format", "json", *self.args],
            cwd=self.cwd,
            env=self.env,
            stdout=self.log_file,
            stderr=self.log_file,
            start_new_session=new_session,
        )
        self._log_start = self.log_path.stat().st_size
        return self

    def log_lines(self) -> list[dict[str, Any]]:
        """This start's log lines (a restarted server appends to the same file)."""
        lines: list[dict[str, Any]] = []
        with self.log_path.open("rb") as log:
            log.seek(getattr(self, "_log_start", 0))
            text = log.read().decode(errors="replace")
        for raw in text.splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                lines.append({"message": raw, "level": "raw"})
        return lines

    def wait_running(self, timeout: float = 30) -> Server:
        def port() -> int | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"executor exited with {self.process.returncode}:\n{self.log_path.read_text()}"
                )
            for line in self.log_lines():
                match = _RUNNING.search(line.get("message", ""))
                if match:
                    return int(match.group(2))
            return None

        self.port = wait_until(port, timeout, what="the 'running on' log line")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 5) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout)

    def signal(self, sig: signal.Signals = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        finally:
            self.log_file.close()

    def stop(self) -> None:
        """Teardown: kill whatever is still running."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
            self.process.wait(10)
        if hasattr(self, "log_file"):
            self.log_file.close()

"""What the chaos runs against and how hard: paths, the PostgreSQL server, the environment of
the executor processes, and the options of one invocation."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "executor"]
BINARY = Path(os.environ.get("EXECUTOR_BINARY", ROOT / "dist" / "executor"))
POSTGRES = os.environ.get("EXECUTOR_CHAOS_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgres")

# The variables a service is started with; its shell commands inherit them (only EXECUTOR_*
# is kept from commands), which is how a command is traced to the incarnation that ran it.
SESSION_VARIABLE = "CHAOS_SESSION"  # one per invocation: every process it started
INSTANCE_VARIABLE = "CHAOS_INSTANCE"  # one per incarnation of an instance
EFFECTS_VARIABLE = "CHAOS_EFFECTS"  # the side-effect file the commands append to

SUBMIT_PATIENCE = 60.0  # seconds a POST /runs is retried (other instances, restarts) before giving up
READY_TIMEOUT = 60.0  # seconds an instance may take to answer /health after its start
SNAPSHOT_INTERVAL = 5.0  # seconds between two readings of the succeeded steps


def service_env() -> dict[str, str]:
    """This environment minus any Executor configuration the caller has set."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("EXECUTOR_", "CHAOS_")) and k != "NOTIFY_SOCKET"
    }


@dataclass(frozen=True)
class Options:
    minutes: float
    kills: int
    terminations: int
    instances: int
    rate: float
    max_pause: float
    orphan_grace: float
    drain_timeout: float
    postgres_restart: list[str] | None  # the command that restarts the server, when asked
    command: list[str]  # how to run executor: the CLI under this interpreter, or the binary
    keep: bool
    seed: int

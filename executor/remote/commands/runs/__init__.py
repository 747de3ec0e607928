"""`executor runs ...`: list, read, start, act on, signal and follow runs, get their artifacts.

Each module registers its commands on `app`, in the order they are imported here (the order
`executor runs --help` lists them).
"""

from __future__ import annotations

# isort: off
from executor.remote.commands.runs import listing, starting, batching, acting, steps, logs, artifacts  # noqa: F401  (register their commands)
from executor.remote.commands.runs.app import app

# isort: on

__all__ = ["app"]

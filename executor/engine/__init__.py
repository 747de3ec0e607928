"""The engine: durable execution of workflow runs on a `Store`.

`Engine` (``core``) is the API (register, submit, signal, cancel, ...) and the claim loop's
work source; ``transitions`` decides what a change does to a run, ``commit`` shares
transactions between changes, ``loop`` claims and runs work, ``runner`` runs one attempt.
"""

from executor.engine.core import Engine
from executor.engine.events import Event
from executor.engine.loop import ClaimLoop, WorkSource

__all__ = ["ClaimLoop", "Engine", "Event", "WorkSource"]

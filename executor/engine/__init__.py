"""The engine: claims work from the store and runs it, at most `concurrency` at a time."""

from executor.engine.loop import ClaimLoop, WorkSource

__all__ = ["ClaimLoop", "WorkSource"]

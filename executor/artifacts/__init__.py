"""Artifacts: the files a step's successful attempt leaves, kept with its run.

`collect` finds an attempt's files (its ``EXECUTOR_ARTIFACTS_DIR`` and the step's
``artifacts:`` paths); `storage.Artifacts` uploads them (database chunks, or a directory),
streams them back, places them for a later step (``artifacts_from``) and sweeps what will
never be kept.
"""

from executor.artifacts.collect import Collected, collect
from executor.artifacts.storage import CHUNK, Artifacts, Limits, artifact_json

__all__ = ["CHUNK", "Artifacts", "Collected", "Limits", "artifact_json", "collect"]

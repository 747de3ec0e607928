"""What an action gets for one attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Attempt:
    run_id: str
    step_id: str
    item_index: int  # -1 unless the step runs for_each
    attempt: int  # 1 for the first attempt
    # The same for every attempt of one step (and item): lets receivers drop duplicates.
    idempotency_key: str
    params: dict[str, Any]  # the step's `with`, rendered
    state: dict[str, Any]  # what a durable action kept when it suspended ({} at first)
    log: Callable[[str, str], None]  # (stream, line): appended to the step's log
    instance: str = ""  # the executor instance running this attempt
    # Where a line too long for one log entry may be cut at or before a position without
    # splitting a secret (each piece is masked alone): `Masker.safe_cut`.
    safe_cut: Callable[[bytes | bytearray, int], int] = lambda data, cut: cut

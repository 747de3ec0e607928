"""What an action gets for one attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LlmCall:
    """One call to a model that an attempt made (`Attempt.report_llm`): what it cost,
    whether or not it succeeded. The engine records it with the attempt's identity."""

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # of the input tokens, those the server had cached
    reasoning_tokens: int = 0  # of the output tokens, those spent reasoning
    cost_usd: float | None = None  # None: no price known for the model
    seconds: float = 0.0  # from sending the request to the end of the reply
    error: str | None = None  # None: the call succeeded


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
    # An empty directory of this attempt's own: the files a shell command leaves in it
    # become the step's artifacts when the attempt succeeds (`executor.artifacts`).
    artifacts_dir: str | None = None
    # Tell the engine of a call to a model (`llm`): recorded even if the outcome is not.
    report_llm: Callable[[LlmCall], None] = lambda call: None

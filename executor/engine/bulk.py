"""Bulk actions: cancel or retry every run a filter selects, as the single-run actions do.

Only the runs an action applies to are selected (`APPLIES_TO`: what `RunChange.cancel` and
`RunChange.retry` accept), created before the request (``until`` is fixed at its time), read
a page at a time by keyset, newest first: runs that arrive meanwhile are never swept in, and
a run whose status changes is never seen twice (the pages are ordered by creation). A run
that left the action's statuses between its page and its turn (it finished meanwhile, or
was deleted) is skipped, not an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from loguru import logger

from executor.errors import ExecutorError, RunNotFound, RunStateConflict
from executor.statuses import RUN_FINAL, RunStatus
from executor.store import Store
from executor.store.records import RunFilter

Action = Literal["cancel", "retry"]

APPLIES_TO: dict[Action, frozenset[RunStatus]] = {
    "cancel": frozenset(RunStatus) - RUN_FINAL,  # any unfinished run
    "retry": frozenset({RunStatus.FAILED}),
}

PAGE = 500  # runs read per page
# Actions in flight at once: the group commit gives them one transaction, kept short so that
# claims are not held up behind it (on SQLite a transaction holds the write lock).
TOGETHER = 50
MAX_LISTED = 1000  # run ids (and failures) an answer lists at most


@dataclass
class BulkResult:
    action: Action
    dry_run: bool
    matched: int = 0  # runs selected (dry run: that would be)
    changed: int = 0  # runs the action was applied to
    skipped: int = 0  # selected, but no longer in a status the action applies to
    run_ids: list[str] = field(default_factory=list)  # the first MAX_LISTED changed, newest first
    failed: list[tuple[str, str]] = field(default_factory=list)  # (run id, error), the first MAX_LISTED


def selection(action: Action, wanted: RunFilter, now: float) -> RunFilter:
    """The runs of ``wanted`` that ``action`` applies to, created before ``now``. A status
    the action does not apply to selects nothing."""
    until = now if wanted.until is None else min(wanted.until, now)
    return replace(wanted, statuses=APPLIES_TO[action], until=until)


async def bulk(
    store: Store,
    act: Callable[[str], Awaitable[None]],
    action: Action,
    wanted: RunFilter,
    *,
    dry_run: bool = False,
    now: float | None = None,
) -> BulkResult:
    """Apply ``act`` (the engine's single-run action) to every run `selection` picks, or with
    ``dry_run`` count them."""
    chosen = selection(action, wanted, time.time() if now is None else now)
    result = BulkResult(action, dry_run)
    if dry_run:
        result.matched = await store.count_runs(chosen)
        return result
    before: tuple[float, str] | None = None
    while True:
        page = await store.list_runs(chosen, before=before, limit=PAGE)
        for start in range(0, len(page), TOGETHER):
            chunk = page[start : start + TOGETHER]
            outcomes = await asyncio.gather(*(act(run.id) for run in chunk), return_exceptions=True)
            for run, outcome in zip(chunk, outcomes, strict=True):
                _count(result, run.id, outcome)
        if len(page) < PAGE:
            break
        before = (page[-1].created_at, page[-1].id)
    logger.bind(action=action).info(
        "bulk {}: {} run(s) changed, {} skipped, {} failed",
        action,
        result.changed,
        result.skipped,
        result.matched - result.changed - result.skipped,
    )
    return result


def _count(result: BulkResult, run_id: str, outcome: BaseException | None) -> None:
    result.matched += 1
    if outcome is None:
        result.changed += 1
        if len(result.run_ids) < MAX_LISTED:
            result.run_ids.append(run_id)
        return
    if isinstance(outcome, RunStateConflict | RunNotFound):
        result.skipped += 1  # finished (or deleted) since its page was read
        return
    if isinstance(outcome, asyncio.CancelledError):
        raise outcome
    if isinstance(outcome, ExecutorError):
        error = outcome.message
    else:
        logger.bind(run_id=run_id).opt(exception=outcome).error("bulk {} failed", result.action)
        error = "internal error; the server log has the details"
    if len(result.failed) < MAX_LISTED:
        result.failed.append((run_id, error))

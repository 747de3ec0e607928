"""Mutual exclusion across runs: a step's `mutex`/`semaphore` and a workflow's
`concurrency` key, held in the store's places (`Txn.take_place`), fleet-wide.

A step takes its place when it would be queued (`wait_turn`, from `RunChange._start`): it
holds the key at once if fewer than the limit hold it and nobody waits ahead, else it
becomes `waiting` with ``state.waiting_for`` and waits in the key's FIFO line. It holds the
key until it is final: its retries, its suspensions (a sleep, a child run) and a drain's
hand-back keep the hold, so nothing of another run slips in between the attempts of a
critical section. A lost lease (its instance died) gives the key up: the step queues
again behind whoever waits (`lost`), so a dead instance never keeps a key.

A run of a workflow with `concurrency` takes its place when it is created (`admit_new`,
applying the policy) and holds it until it is final; while it waits it stays `pending`
with no step started (`admitted` gates `RunChange.advance`). A retried run takes a place
again, at the end of the line.

A holder stopped while an attempt of it runs (a cancel of the step or the run, a reopen)
keeps its place until that attempt has really ended, so that its command, which gets SIGTERM
and a grace before SIGKILL, never overlaps the next holder's: the change records who it
stopped (`ChangeScope.stopped_steps`), `step_final` and `run_final` then keep the places, and
the instance that ran the attempt gives them up once its task has ended (`released`, one
short change); if that instance dies first, the lease upkeep's sweep gives up places whose
step or run has been final for a lease (`Store.kept_places`, `release_kept`). So at most
`limit` attempts of holders execute at once, except an attempt whose instance lost contact
beyond its lease (taken for lost above), until that instance stops it or dies. A retried
failed run waiting in line for its key is `pending` again (`comeback`).

Whoever gives a place up lets the next ones in within the same transaction (`_let_in`):
a step let in is started (queued, or fanned out), a run let in advances (a paused one
holds its place and starts its steps when resumed). On PostgreSQL a
key's changes are serialised by an advisory lock; letting another run in then locks that
run too (after the key), as finishing a child locks its parent. Two instances doing so in
opposite orders deadlock; PostgreSQL breaks it and the engine runs each change again on
its own (`GroupCommit._alone`), so it costs a retry, never a wrong hold.

Keys are not re-entrant: a step holding ``ledger`` whose child run's step wants ``ledger``
waits for itself. Runs and steps that share a key should give it the same limit; each
place is let in under the smallest limit among the key's holders and its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from executor.engine import endings
from executor.engine.events import InLine, RunEvent
from executor.errors import ExecutorError
from executor.statuses import RUN_FINAL, RunStatus, StepStatus
from executor.store.records import Place, StepRow
from executor.workflow import Step
from executor.workflow.exclusion import MAX_KEY

if TYPE_CHECKING:
    from executor.engine.transitions import RunChange

WAITING_FOR = "waiting_for"  # the state key of a step waiting in a key's line


class KeyInvalid(ExecutorError):
    """A key's template rendered to something that cannot be a key."""


async def wait_turn(change: RunChange, row: StepRow, step: Step) -> bool:
    """Take the step's place under its key before it is queued; True when it must wait
    (the row is then `waiting` for the key)."""
    semaphore = step.semaphore
    if semaphore is None or row.item_index != -1:
        return False
    key = _key(await change._render(semaphore.key, semaphore.where, step), semaphore.where)
    place = await change.txn.take_place(key, semaphore.limit, change.run.id, row.id)
    if place.holding:
        return False
    await _wait(change, row, place, "mutex" if semaphore.mutex else "semaphore")
    return True


async def _wait(change: RunChange, row: StepRow, place: Place, kind: str, **fields: Any) -> None:
    waiting = {"kind": kind, "key": place.key, "limit": place.limit}
    state = {**(row.state or {}), WAITING_FOR: waiting}
    line = InLine(kind, place.key, place.position)
    await change.set_step(row, StepStatus.WAITING, waiting_for=line, state=state, available_at=None, **fields)


async def step_final(change: RunChange, row: StepRow) -> None:
    """A step with a key became final: give up its place, let the next ones in; but a step
    whose attempt this change stopped keeps it until that attempt has ended (`released`)."""
    if (change.run.id, row.step_id) in change.scope.stopped_steps:
        return
    await _leave(change, row.id)


async def lost(change: RunChange, row: StepRow, history: list[dict[str, Any]]) -> bool:
    """A lost attempt gives up its step's key (whoever waits goes first) and takes a place
    again; True when it must wait (the row is then `waiting`, its lost attempt in
    ``history``), False when the caller queues it as usual."""
    semaphore = change.workflow.step(row.step_id).semaphore
    if semaphore is None or row.item_index != -1:
        return False
    keys = await change.txn.leave_places(change.run.id, row.id)
    for key in keys:
        await _let_in(change, key)
    for key in keys:
        place = await change.txn.take_place(key, semaphore.limit, change.run.id, row.id)
        if not place.holding:
            kind = "mutex" if semaphore.mutex else "semaphore"
            await _wait(change, row, place, kind, history=history)
            return True
    return False


async def admit_new(change: RunChange) -> None:
    """Take a new run's place under its workflow's key, by the key's policy: wait in line
    (``queue``), end cancelled at once (``skip``), or cancel the holders and the line
    ahead to take their place (``cancel_running``)."""
    concurrency = change.workflow.concurrency
    if concurrency is None:
        return
    try:
        key = await _run_key(change)
    except ExecutorError as exc:  # a key that cannot be one fails the run, as a `when` its step
        await change.finish(RunStatus.FAILED, error=exc.message)
        return
    if concurrency.policy == "cancel_running":
        await _cancel_ahead(change, key, concurrency.limit)
    place = await change.txn.take_place(key, concurrency.limit, change.run.id, None)
    if place.holding:
        return
    if concurrency.policy != "skip":
        _in_line(change, place)
        return
    holders = [p.run_id for p in await change.txn.places_under(key) if p.holding]
    await change.txn.leave_places(change.run.id, None)
    await change.finish(
        RunStatus.CANCELLED,
        error=f"skipped: concurrency key {key!r} is held (limit {concurrency.limit}) by run {', '.join(holders)}",
    )


async def admitted(change: RunChange) -> bool:
    """Whether the run may start steps: it holds its key (a run that has no place yet, a
    retried one, takes one at the end of the line)."""
    concurrency = change.workflow.concurrency
    if concurrency is None:
        return True
    key = await _run_key(change)
    return (await change.txn.take_place(key, concurrency.limit, change.run.id, None)).holding


async def comeback(change: RunChange) -> RunStatus:
    """The status a failed run comes back with (a retry, a step's retry): `running`, or
    `pending` while it waits in line for its concurrency key (its place is taken now)."""
    return RunStatus.RUNNING if await admitted(change) else RunStatus.PENDING


def _in_line(change: RunChange, place: Place) -> None:
    """Tell the listeners a new run waits in its key's line (it stays `pending`)."""
    line = InLine("concurrency", place.key, place.position)
    change.scope.events.append(RunEvent.of(change.run, waiting_for=line))


async def run_final(change: RunChange) -> None:
    """A run with a key became final: give up its place, let the next ones in; but a run
    with attempts still running (stopped by this change, or about to be: a run ends before
    its rows are cancelled) keeps it until they have ended (`released`)."""
    if change.workflow.concurrency is None:
        return
    await change.read_all()
    if any(run_id == change.run.id for run_id, _ in change.scope.stopped_steps) or any(
        row.status == StepStatus.RUNNING and row.id not in change.scope.settled_rows
        for row in change.rows.values()
    ):
        return
    await _leave(change, None)


async def released(change: RunChange, row_id: int, attempt: int) -> None:
    """Attempt ``attempt`` of row ``row_id``, stopped by a change (a cancel, a lost lease),
    has really ended: its step, if final, and its run, if final, give up the places they
    kept for it (`step_final`, `run_final`), and let the next ones in.

    The instance that ran it calls this once its command is gone; `kept_since` is the
    fallback for an instance that died meanwhile. A row that runs again (reopened), or
    another attempt of it, keeps its place."""
    row = await change.row(row_id)
    if row is None:
        return
    step = change.workflow.step(row.step_id)
    if step.semaphore is not None and (row.item_index >= 0 or row.attempt == attempt):
        level = await change.step_row(row.step_id)
        if level.final:
            await _leave(change, level.id)
    if change.run.status in RUN_FINAL:
        await _leave(change, None)


async def release_kept(change: RunChange, step: int | None) -> None:
    """Give up a place kept for an attempt whose end was never reported (its instance died
    after the cancel): the step's (``step``) if it is still final, else the run's if the
    run is still final (`Store.kept_places` found it)."""
    if step is not None:
        row = await change.row(step)
        if row is not None and row.final:
            await _leave(change, step)
    elif change.run.status in RUN_FINAL:
        await _leave(change, None)


async def _leave(change: RunChange, step: int | None) -> None:
    for key in await change.txn.leave_places(change.run.id, step):
        await _let_in(change, key)


async def _cancel_ahead(change: RunChange, key: str, limit: int) -> None:
    """Make room for a new run: cancel every run waiting under ``key``, then the oldest
    holders until fewer than ``limit`` hold it.

    Each is cancelled as an operator's cancel does (`endings.end`): one waiting in line ends
    at once; a holder with `finally` steps runs them first and keeps its place until they
    end (the new run waits in line for it meanwhile), and one already running them is left
    to finish them: a cleanup is never cut short by the next run."""
    places = [place for place in await change.txn.places_under(key) if place.step is None]
    waiting = [place for place in places if not place.holding]
    holders = [place for place in places if place.holding]
    doomed = waiting + holders[: max(0, len(holders) - limit + 1)]
    for place in doomed:
        other = await type(change).load(change.txn, change.scope, place.run_id)
        if other.run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            continue
        await other.read_all()
        if not endings.started(other):
            error = f"cancelled by run {change.run.id} (concurrency key {key!r}, policy cancel_running)"
            await endings.end(other, RunStatus.CANCELLED, error)


async def _let_in(change: RunChange, key: str) -> None:
    """Let in whoever the freed place lets in: start the steps, advance the runs."""
    for run_id, step in await change.txn.let_in(key):
        if run_id == change.run.id:
            target = change
        else:
            target = await type(change).load(change.txn, change.scope, run_id)
        if step is None:
            # A paused run holds its place but starts nothing: `resume` advances it.
            if target.run.status != RunStatus.PAUSED:
                await target.advance()
            continue
        row = await target.row(step)
        if row is None or row.status != StepStatus.WAITING or WAITING_FOR not in (row.state or {}):
            continue
        state = {k: v for k, v in row.state.items() if k != WAITING_FOR} or None
        await target.txn.update_step(row.id, state=state)
        row = row.replace(state=state)
        target._keep(row)
        await target._start(row)
        if target.step_level[row.step_id].final:
            await target.advance(after=row.step_id)


async def _run_key(change: RunChange) -> str:
    assert change.workflow.concurrency is not None
    return _key(await change._render(change.workflow.concurrency.key, "concurrency.key"), "concurrency.key")


def _key(value: Any, where: str) -> str:
    key = value if isinstance(value, str) else "" if value is None else str(value)
    if not key.strip():
        raise KeyInvalid(f"{where} rendered to an empty key")
    if len(key) > MAX_KEY:
        raise KeyInvalid(f"{where} rendered to a key longer than {MAX_KEY} characters")
    return key

"""The attempt history's arithmetic: which attempts spend the retry budget, and which lost
attempts in a row the poison-step brake counts."""

from __future__ import annotations

from typing import Any

from executor.engine.history import lost_in_a_row, spent
from executor.statuses import StepStatus
from executor.store.records import StepRow


def row(attempt: int, *entries: tuple[int, str] | tuple[int, str, str]) -> StepRow:
    history: list[dict[str, Any]] = [
        {"attempt": e[0], "outcome": e[1], **({"reason": e[2]} if len(e) > 2 else {})} for e in entries
    ]
    return StepRow(
        id=1, run_id="r", step_id="s", item_index=-1, status=StepStatus.RUNNING, attempt=attempt,
        available_at=None, lease_owner="me", lease_token="t", lease_expires_at=None, state=None,
        output=None, error=None, created_at=0.0, started_at=0.0, finished_at=None, history=history or None,
    )  # fmt: skip


def test_lost_attempts_do_not_spend_the_budget() -> None:
    assert spent(row(1)) == 1
    assert spent(row(3, (1, "lost"), (2, "lost"))) == 1
    assert spent(row(3, (1, "lost"), (2, "failed"))) == 2
    assert spent(row(2, (1, "lost", "drain"))) == 1


def test_a_durable_step_resumed_after_a_loss_keeps_its_attempt_and_it_counts() -> None:
    # A wait step's attempt 1 was lost while resuming; it goes on as attempt 1.
    assert spent(row(1, (1, "lost"))) == 1
    # Lost again on resume, then its timeout failed it: still one attempt spent.
    assert spent(row(1, (1, "lost"), (1, "lost"))) == 1


def test_the_brake_counts_the_lost_attempts_at_the_end_and_skips_drains() -> None:
    history = [
        {"attempt": 1, "outcome": "failed"},
        {"attempt": 2, "outcome": "lost", "instance": "a"},
        {"attempt": 3, "outcome": "lost", "reason": "drain"},
        {"attempt": 4, "outcome": "lost", "instance": "b"},
    ]
    assert [e["attempt"] for e in lost_in_a_row(history)] == [2, 4]
    assert lost_in_a_row(history[:1]) == []
    assert lost_in_a_row(None) == []

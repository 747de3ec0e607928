"""scripts/chaos: the figures computed from hand-made evidence (each way a run can be lost,
a completion recorded twice, a command orphaned), then short real runs: without chaos every
figure is zero, and with kills (and, on PostgreSQL, terminated connections) every invariant
holds: nothing lost, nothing failed, nothing recorded twice, no orphan."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from scripts.chaoslib.figures import Effect, Evidence, Figures, Kill, Seen, StepRecord, compute
from tests.support.databases import ADMIN_URL, require_postgres
from tests.support.process import ROOT, clean_env

RUN = "run-1"
KILLED, NEXT = "sqlite-i0-r0", "sqlite-i0-r1"


def effect(at: float, event: str, step: str, pid: int, incarnation: str = KILLED, attempt: int = 1) -> Effect:
    return Effect(at, event, RUN, step, attempt, pid, incarnation)


def succeeded(token: str, attempt: int = 1, finished_at: float = 20.0) -> StepRecord:
    return StepRecord("succeeded", attempt, finished_at, {"attempt": token}, None)


def evidence(**changes: Any) -> Evidence:
    """One run, killed in the middle of ``work`` at t=10 and finished by the next
    incarnation: ``prepare`` (pid 1) was recorded before the kill; ``work`` ran on the killed
    instance (pid 2) and again (pid 3) 1.5 s after the kill."""
    steps = {
        (RUN, "prepare"): succeeded(f"{KILLED} 1 1", finished_at=9.0),
        (RUN, "work"): succeeded(f"{NEXT} 3 1"),
        (RUN, "finish"): StepRecord(
            "succeeded", 1, 21.0, {"prepare": f"{KILLED} 1 1", "work": f"{NEXT} 3 1"}, None
        ),
    }
    base = Evidence(
        backend="sqlite",
        submitted=1,
        accepted={0: RUN},
        refused={},
        runs={RUN: ("succeeded", None)},
        steps=steps,
        seen={(RUN, "prepare"): Seen(9.5, steps[(RUN, "prepare")])},
        effects=[
            effect(8.0, "start", "prepare", 1),
            effect(8.9, "done", "prepare", 1),
            effect(9.0, "start", "work", 2),
            effect(11.5, "start", "work", 3, NEXT),
            effect(12.0, "done", "work", 3, NEXT),
        ],
        kills=[Kill(10.0, KILLED)],
        orphan_grace=1.0,
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_a_kill_that_costs_only_a_rerun_breaks_nothing() -> None:
    figures = compute(evidence())

    assert figures.broken == []
    assert (figures.submitted, figures.accepted, figures.finished) == (1, 1, 1)
    assert (figures.failed, figures.lost, figures.twice, figures.orphans) == (0, 0, 0, 0)
    assert figures.duplicate_side_effects == 1 and figures.duplicates_per_kill == 1
    assert (figures.interrupted_steps, figures.interrupted_not_rerun) == (1, 0)
    assert figures.longest_wait_after_kill == pytest.approx(1.5)


def test_a_step_the_killed_instance_had_recorded_was_not_interrupted() -> None:
    figures = compute(evidence(kills=[Kill(8.95, KILLED)], effects=evidence().effects[:2]))

    assert figures.interrupted_steps == 0 and figures.longest_wait_after_kill is None


def test_failed_runs_are_grouped_by_error_and_kills_told_apart() -> None:
    lost_executor = "step work failed: executor lost: the lease expired before the attempt finished"
    figures = compute(
        evidence(
            accepted={0: RUN, 1: "run-2", 2: "run-3"},
            runs={
                RUN: ("failed", lost_executor),
                "run-2": ("failed", lost_executor),
                "run-3": ("failed", "step work failed: command failed (exit code 1)"),
            },
        )
    )

    assert (figures.failed, figures.failed_by_kills, figures.finished) == (3, 2, 0)
    assert figures.failure_reasons == {
        f"failed: {lost_executor}": 2,
        "failed: step work failed: command failed (exit code 1)": 1,
    }
    assert figures.broken == ["failed"]


def test_runs_missing_or_never_final_are_lost() -> None:
    figures = compute(evidence(accepted={0: RUN, 1: "run-2"}, runs={RUN: ("running", None)}))

    assert figures.lost == 2 and figures.lost_runs == ["run-1 (running)", "run-2 (missing)"]
    assert figures.broken == ["lost"]


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("the recorded completion changed after it was seen", "changed_after_seen"),
        ("the command started again after its completion was seen", "ran_after_recorded"),
        ("the next step consumed another output", "consumed_other"),
        ("the history shows two successes", "succeeded_twice_in_history"),
    ],
)
def test_each_sign_of_a_completion_recorded_twice_counts(case: str, detail: str) -> None:
    proof = evidence()
    prepare = proof.steps[(RUN, "prepare")]
    if detail == "changed_after_seen":
        proof.steps[(RUN, "prepare")] = succeeded(f"{NEXT} 4 2", attempt=2, finished_at=30.0)
        proof.steps[(RUN, "finish")] = StepRecord(
            "succeeded", 1, 21.0, {"prepare": f"{NEXT} 4 2", "work": f"{NEXT} 3 1"}, None
        )
    elif detail == "ran_after_recorded":
        proof.effects.append(effect(12.0, "start", "prepare", 4, NEXT))
    elif detail == "consumed_other":
        proof.steps[(RUN, "finish")] = StepRecord(
            "succeeded", 1, 21.0, {"prepare": f"{KILLED} 9 1", "work": f"{NEXT} 3 1"}, None
        )
    else:
        entry = {"outcome": "succeeded"}
        proof.steps[(RUN, "prepare")] = StepRecord(
            "succeeded", 1, 9.0, prepare.output, None, [entry, {"outcome": "lost"}, entry]
        )

    figures = compute(proof)

    assert figures.twice == 1, case
    assert figures.twice_detail[detail] == 1
    assert figures.twice_steps == [f"{RUN} prepare"]
    assert figures.broken == ["twice"]


def test_orphans_are_commands_alive_or_writing_after_the_grace() -> None:
    alive = (KILLED, RUN, "work", 1)
    seen_alive = compute(evidence(kills=[Kill(10.0, KILLED, {alive})]))
    wrote_late = evidence()
    wrote_late.effects.append(effect(11.2, "done", "work", 2))
    wrote_in_time = evidence()
    wrote_in_time.effects.append(effect(10.9, "done", "work", 2))

    assert seen_alive.orphans == 1 and seen_alive.orphan_commands == [f"{KILLED} {RUN} work 1"]
    assert compute(wrote_late).orphans == 1
    assert compute(wrote_in_time).orphans == 0
    assert seen_alive.broken == ["orphans"]


def test_side_effect_lines_parse_or_count_as_unreadable() -> None:
    line = "1764590000.123456789 start 1b2c work 2 4242 postgres-i1-r3"

    assert Effect.parse(line) == Effect(
        1764590000.123456789, "start", "1b2c", "work", 2, 4242, "postgres-i1-r3"
    )
    assert Effect.parse("1764590000.1 start 1b2c work") is None
    assert Effect.parse("soon start 1b2c work 2 4242 postgres-i1-r3") is None


def chaos(*args: str, timeout: float) -> tuple[int, list[dict[str, Any]], str]:
    """Run scripts.chaoslib (as scripts/chaos does) with --json: exit status, figures, stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "scripts.chaoslib", "--json", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(EXECUTOR_CHAOS_POSTGRES=ADMIN_URL),
        cwd=ROOT,
    )
    figures = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.returncode, figures, result.stderr


def assert_invariants_hold(found: dict[str, Any]) -> None:
    assert found["accepted"] == found["submitted"] > 0, found
    assert found["finished"] == found["accepted"], found["failure_reasons"]
    assert (found["failed"], found["failed_by_kills"]) == (0, 0), found["failure_reasons"]
    assert found["lost"] == 0, found["lost_runs"]
    assert found["twice"] == 0, (found["twice_detail"], found["twice_steps"])
    assert found["orphans"] == 0, found["orphan_commands"]
    assert found["unreadable_lines"] == 0 and found["unexpected_exits"] == []
    assert set(found["stop_exit_codes"].values()) == {0}, "every instance drained and exited 0 at the end"
    assert found["ok"] and found["broken"] == []


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_without_chaos_every_figure_is_zero() -> None:
    code, figures, stderr = chaos("--backend", "sqlite", "--minutes", "0.25", "--kills", "0", timeout=170)

    assert code == 0, stderr
    [found] = figures
    assert_invariants_hold(found)
    assert (found["kills"], found["duplicate_side_effects"], found["interrupted_steps"]) == (0, 0, 0)
    assert found["longest_wait_after_kill"] is None and found["duplicates_per_kill"] is None


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_short_chaos_run_keeps_every_invariant(backend: str) -> None:
    if backend == "postgres":
        require_postgres()

    code, figures, stderr = chaos("--backend", backend, "--minutes", "0.5", "--kills", "2", timeout=390)

    [found] = figures
    assert found["backend"] == backend
    assert found["kills"] == 2 and found["terminations"] == (1 if backend == "postgres" else 0)
    # the kills landed mid-step, and what they interrupted ran again elsewhere
    assert found["interrupted_steps"] >= 1 and found["interrupted_not_rerun"] == 0, stderr
    assert found["longest_wait_after_kill"] is not None
    assert_invariants_hold(found)
    assert code == 0, stderr


def test_figures_say_which_invariants_broke() -> None:
    figures: Figures = compute(evidence(runs={}))

    assert figures.as_json()["broken"] == ["lost"] and figures.as_json()["ok"] is False

"""How the figures are shown: a report per backend for people, or one JSON object per
backend (``--json``) for machines."""

from __future__ import annotations

import json

from scripts.chaoslib.figures import Figures


def emit_json(figures: Figures, **extra: object) -> None:
    print(json.dumps({**figures.as_json(), **extra}), flush=True)


def report(f: Figures, minutes: float, instances: int) -> None:
    chaos = f"{f.kills} kill{'s' * (f.kills != 1)}"
    if f.backend == "postgres":
        chaos += f", {f.terminations} backend termination{'s' * (f.terminations != 1)}"
        chaos += f", {f.postgres_restarts} PostgreSQL restart{'s' * (f.postgres_restarts != 1)}"
    print(f"\nchaos on {f.backend}: {minutes:g} min, {instances} instance{'s' * (instances != 1)}, {chaos}")
    wait = "n/a" if f.longest_wait_after_kill is None else f"{f.longest_wait_after_kill:.1f} s"
    per_kill = "" if f.duplicates_per_kill is None else f"  ({f.duplicates_per_kill:g} per kill)"
    rows = [
        (
            "runs submitted",
            f"{f.submitted}",
            f"  ({f.accepted} accepted, {f.refused} refused)" if f.refused else "",
        ),
        ("runs finished", f"{f.finished}", ""),
        ("runs failed", f"{f.failed}", f"  ({f.failed_by_kills} because of kills)" if f.failed else ""),
        ("runs lost", f"{f.lost}", ""),
        ("completions recorded twice", f"{f.twice}", _detail(f.twice_detail) if f.twice else ""),
        ("duplicate side effects", f"{f.duplicate_side_effects}", per_kill),
        ("orphans seen", f"{f.orphans}", ""),
        (
            "longest wait after a kill",
            wait,
            f"  ({f.interrupted_steps} steps interrupted, {f.interrupted_not_rerun} never run again)",
        ),
    ]
    for label, value, detail in rows:
        print(f"  {label:<27} {value:>8}{detail}")
    for reason, count in f.failure_reasons.items():
        print(f"      {count:>6} x {reason[:150]}")
    for run in f.lost_runs:
        print(f"      lost: {run}")
    for step in f.twice_steps:
        print(f"      recorded twice: {step}")
    for command in f.orphan_commands:
        print(f"      orphan: {command}")
    if f.unexpected_exits:
        print(f"  instances that exited on their own: {', '.join(f.unexpected_exits)}")
    if any(f.stop_exit_codes.values()):
        print(f"  exit codes after SIGTERM: {f.stop_exit_codes}")
    if f.unreadable_lines:
        print(f"  unreadable side-effect lines: {f.unreadable_lines}")
    print(f"  verdict: {'OK' if not f.broken else 'BROKEN: ' + ', '.join(f.broken)}")


def _detail(counts: dict[str, int]) -> str:
    return "  (" + ", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in counts.items() if n) + ")"

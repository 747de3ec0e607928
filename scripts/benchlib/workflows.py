"""The workflows the workloads submit: chains of noop (or shell) steps and a ``for_each`` fan-out."""

from __future__ import annotations

from dataclasses import dataclass

FANOUT_CONCURRENCY = 100


@dataclass(frozen=True)
class Load:
    """``runs`` runs of the workflow ``flow`` (named ``name``), ``units`` steps or items in all."""

    name: str
    flow: str
    runs: int
    units: int
    shape: str


# What a step of a chain does: nothing, in-process; or start a process (`sh -c true`).
STEP_ACTIONS = {"noop": "action: noop", "shell": 'action: shell, with: {command: "true"}'}


def chain_load(runs: int, length: int, action: str = "noop") -> Load:
    """``runs`` runs of a chain of ``length`` ``action`` steps (`STEP_ACTIONS`), each needing
    the one before."""
    step = STEP_ACTIONS[action]
    lines = ["name: chain", "steps:", f"  - {{id: s0, {step}}}"]
    lines += [f"  - {{id: s{i}, {step}, needs: [s{i - 1}]}}" for i in range(1, length)]
    what = action if action == "noop" else "shell `true`"
    shape = f"{runs} run{'s' * (runs > 1)} x {length} {what} step{'s' * (length > 1)}"
    return Load("chain", "\n".join(lines) + "\n", runs, runs * length, shape)


def fanout_load(items: int) -> Load:
    """One run of one noop step with ``for_each`` over ``items`` items."""
    flow = (
        "name: fanout\nsteps:\n  - id: items\n    action: noop\n"
        f'    for_each: "{{{{ range({items}) }}}}"\n    concurrency: {FANOUT_CONCURRENCY}\n'
    )
    return Load(
        "fanout", flow, 1, items, f"1 run, for_each over {items} items, concurrency {FANOUT_CONCURRENCY}"
    )

"""The ``peers`` workload: scripts/bench-peers run as a subprocess, its JSON lines turned into
``peers`` figures; and the ``ratio`` figures, Executor / peer on the same database."""

from __future__ import annotations

import json
import subprocess

from scripts.benchlib.errors import note
from scripts.benchlib.figures import record
from scripts.benchlib.settings import PEERS, ROOT
from scripts.benchlib.suite import Suite

# Executor figure (workload, variant, metric) compared with a peer figure (system, workload,
# metric) on the same database; the ratio is Executor / peer, with its target if any. A system
# also matches its variants: "dbos" matches dbos-sqlite, dbos-sqlite-wal and dbos-postgres.
RATIOS = [
    (("steps", "chains", "steps_per_s"), ("dbos", "chain", "steps_per_s"), None),
    (("steps", "chain_long", "steps_per_s"), ("dbos", "chain_long", "steps_per_s"), None),
    (("runs", "single_step", "runs_per_s"), ("pgqueuer", "jobs", "jobs_per_s"), ">= 1"),
    (("runs", "single_step", "runs_per_s"), ("procrastinate", "jobs", "jobs_per_s"), ">= 10"),
    (("runs", "single_step_batched", "runs_per_s"), ("pgqueuer", "jobs", "jobs_per_s"), ">= 1"),
]


def peers(suite: Suite) -> None:
    if not PEERS.exists():
        note(f"{PEERS} does not exist yet: no peer figures and no ratios")
        return
    command = [str(PEERS), "--repeat", str(suite.repeat), *(["--quick"] if suite.quick else [])]
    note(f"peers: {' '.join(command[1:])}")
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # stderr shows
    if result.returncode != 0:
        note(f"{PEERS.name} exited {result.returncode}; keeping the figures it printed")
    for found in peer_figures(result.stdout.splitlines()):
        if found["database"] in suite.databases:
            suite.add(found)


def peer_figures(lines: list[str]) -> list[dict]:
    """scripts/bench-peers' JSON lines as ``peers`` figures (other lines are ignored)."""
    found = []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            peer = json.loads(line)
            system, workload, metric = peer.pop("system"), peer.pop("workload"), peer.pop("metric")
            database, value, samples = peer.pop("database"), peer.pop("value", None), peer.pop("samples", [])
        except (ValueError, KeyError) as exc:
            note(f"ignoring a line from {PEERS.name} ({exc!r}): {line}")
            continue
        extra = {k: v for k, v in peer.items() if k not in ("variant", "cores", "repeat", "target")}
        extra |= {"system": system, "peer_workload": workload}
        found.append(record("peers", f"{system} {workload}", metric, value, database, samples, **extra))
    return found


def is_peer(figure: dict, system: str, workload: str, metric: str, database: str) -> bool:
    """Whether ``figure`` is the peers' ``workload`` ``metric`` on ``database`` by ``system``
    or a variant of it (dbos-sqlite, dbos-sqlite-wal and dbos-postgres for dbos)."""
    return (
        figure["workload"] == "peers"
        and figure["system"].split("-")[0] == system
        and (figure["peer_workload"], figure["metric"], figure["database"]) == (workload, metric, database)
    )


def ratios(figures: list[dict]) -> list[dict]:
    """Executor / peer for each pair in RATIOS measured in this run, on the same database."""
    found = []
    for (workload, variant, metric), (system, peer_workload, peer_metric), target in RATIOS:
        for ours in figures:
            if (ours["workload"], ours["variant"], ours["metric"]) != (workload, variant, metric):
                continue
            for peer in figures:
                if not is_peer(peer, system, peer_workload, peer_metric, ours["database"]):
                    continue
                value = ours["value"] / peer["value"] if ours["value"] and peer["value"] else None
                label = f"{variant} / {peer['system']} {peer_workload}"
                names = {
                    "executor": f"{workload} {variant} {metric}",
                    "peer": f"{peer['system']} {peer_workload}",
                }
                found.append(record("ratio", label, "ratio", value, ours["database"], [], target, **names))
    return found

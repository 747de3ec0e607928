"""The data a page hands to ui.js to draw a workflow's graph: its steps as nodes, ``needs`` as
edges, each node with a status and an item count where a run is shown.

A graph beyond ``MAX_NODES`` is not drawn node by node (the layout would take seconds and
nobody can read it): the page gets ``collapsed`` with the counts by status instead, and the
steps table stays the way in.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

MAX_NODES = 300


def graph_data(
    definition: dict[str, Any],
    statuses: dict[str, str] | None = None,
    counts: dict[str, str] | None = None,
    link: str = "#step-{}",
) -> dict[str, Any]:
    """``{"nodes": [{id, action, status, count, href}], "edges": [[from, to]], "collapsed":
    None | {"steps": n, "by_status": {...}}}`` for a workflow definition (its JSON form, as
    stored). ``statuses`` and ``counts`` map step ids to a status and to an item count text
    such as ``"12/50"``; ``link`` formats each node's link from its id."""
    # The finally steps too: drawn apart, as they never need a main step.
    steps: list[dict[str, Any]] = [*(definition.get("steps") or ()), *(definition.get("finally") or ())]
    statuses = statuses or {}
    counts = counts or {}
    if len(steps) > MAX_NODES:
        by_status = Counter(statuses.get(step["id"], "pending") for step in steps)
        return {"nodes": [], "edges": [], "collapsed": {"steps": len(steps), "by_status": dict(by_status)}}
    nodes = [
        {
            "id": step["id"],
            "action": step.get("action", ""),
            "status": statuses.get(step["id"], "pending" if statuses else ""),
            "count": counts.get(step["id"], ""),
            "href": link.format(step["id"]),
        }
        for step in steps
    ]
    edges = [[need, step["id"]] for step in steps for need in step.get("needs") or ()]
    return {"nodes": nodes, "edges": edges, "collapsed": None}

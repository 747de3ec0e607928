"""The step graph: cycles and transitive dependencies, over ``step id → ids it needs``.

Walks are iterative: a long chain of steps must not hit Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycles(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Cycles along ``needs`` edges, each once, starting at its earliest step in ``needs`` order.

    ``[a, b]`` means a needs b and b needs a. Needs that are not keys of ``needs`` are ignored.
    Every strongly connected group of steps yields at least one cycle.
    """
    order = {step: position for position, step in enumerate(needs)}
    done: set[str] = set()
    seen: set[frozenset[str]] = set()
    cycles: list[list[str]] = []
    for root in needs:
        if root in done:
            continue
        path = [root]
        on_path = {root}
        pending = [iter(needs[root])]
        while pending:
            step = next(pending[-1], None)
            if step is None:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                pending.pop()
            elif step in on_path:
                cycle = path[path.index(step) :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    first = min(range(len(cycle)), key=lambda position: order[cycle[position]])
                    cycles.append(cycle[first:] + cycle[:first])
            elif step in needs and step not in done:
                path.append(step)
                on_path.add(step)
                pending.append(iter(needs[step]))
    return sorted(cycles, key=lambda cycle: order[cycle[0]])


def ancestors(needs: Mapping[str, Sequence[str]], step: str) -> set[str]:
    """Every step ``step`` waits for, directly or through other steps (cycles tolerated)."""
    found: set[str] = set()
    pending = list(needs.get(step, ()))
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(needs.get(current, ()))
    return found

"""How figures are shown: one JSON line each as soon as it is measured, a table at the end."""

from __future__ import annotations

import json
import os


def emit(found: dict, repeat: int) -> None:
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in found.items()}
    rounded["samples"] = [round(s, 3) if isinstance(s, float) else s for s in found["samples"]]
    print(json.dumps({**rounded, "cores": os.cpu_count(), "repeat": repeat}), flush=True)


def table(figures: list[dict], repeat: int) -> None:
    print(f"\nExecutor benchmark: {os.cpu_count()} cores, median of {repeat} repetition{'s' * (repeat > 1)}")
    variant = max([len("variant"), *(len(f["variant"]) for f in figures)])
    metric = max([len("metric"), *(len(f["metric"]) for f in figures)])
    header = f"{'workload':<9} {'variant':<{variant}} {'database':<8} {'metric':<{metric}} {'value':>9}  {'unit':<11} target"
    print(header + "\n" + "-" * (len(header) + 20))
    for f in figures:
        value = "n/a" if f["value"] is None else f"{f['value']:,.{2 if abs(f['value']) < 100 else 0}f}"
        mark = {True: " (met)", False: " (MISSED)", None: ""}[f.get("target_met")]
        where = (
            f"{f['workload']:<9} {f['variant']:<{variant}} {f['database'] or '-':<8} {f['metric']:<{metric}}"
        )
        print(f"{where} {value:>9}  {f['unit']:<11} {f.get('target', '')}{mark}")
    sizes: dict[tuple[str, str], list[str]] = {}
    for f in figures:
        if "shape" in f and f["variant"] not in sizes.setdefault((f["workload"], f["shape"]), []):
            sizes[(f["workload"], f["shape"])].append(f["variant"])
    print("\nsizes:")
    for (workload, shape), variants in sizes.items():
        print(f"  {workload} {', '.join(variants)}: {shape}")

"""The command line: arguments, which databases and workloads run, and in what order; the
figures' table at the end. Exit status 1 when a measurement cannot be trusted."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time

from scripts import benchlib
from scripts.benchlib.databases import postgres_problem, templates
from scripts.benchlib.errors import BenchError, note
from scripts.benchlib.report import table
from scripts.benchlib.settings import DATABASES, FULL, QUICK, WORKLOADS
from scripts.benchlib.suite import Suite
from scripts.benchlib.workloads import PER_DATABASE
from scripts.benchlib.workloads.peers import peers, ratios


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=benchlib.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    only = f"run only these workloads ({', '.join(WORKLOADS)}); comma-separated, repeatable"
    parser.add_argument("--only", action="extend", type=lambda s: s.split(","), metavar="NAMES", help=only)
    parser.add_argument("--database", choices=DATABASES, help="only this database (default: both)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions per figure, median reported (default 3)"
    )
    quick = "tiny sizes, 1 repetition, 0.5 s idle window; skips peers unless --only names them"
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument(
        "--idle", type=float, default=30.0, help="seconds of idle to measure CPU over (default 30)"
    )
    parser.add_argument("--concurrency", type=int, help="passed to the service (default: the service's own)")
    parser.add_argument(
        "--purge-runs",
        type=int,
        metavar="N",
        help="finished runs the purge workload deletes (default 100,000)",
    )
    args = parser.parse_args()
    unknown = set(args.only or []) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(sorted(unknown))}; choose from {', '.join(WORKLOADS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def databases(requested: str | None) -> list[str]:
    problem = postgres_problem() if requested in (None, "postgres") else None
    if problem and requested == "postgres":
        raise BenchError(problem)
    if problem:
        note(f"{problem}: measuring SQLite only")
        return ["sqlite"]
    return [requested] if requested else list(DATABASES)


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every finally block runs
    only = args.only or [w for w in WORKLOADS if not (args.quick and w == "peers")]
    began = time.perf_counter()
    try:
        suite = Suite(
            databases(args.database),
            repeat=1 if args.quick else args.repeat,
            sizes=dataclasses.replace(
                QUICK if args.quick else FULL,
                **({"purge_runs": args.purge_runs} if args.purge_runs else {}),
            ),
            quick=args.quick,
            idle=0.5 if args.quick else args.idle,
            concurrency=args.concurrency,
        )
        if "fleet" in only and "postgres" not in suite.databases:
            note("fleet needs PostgreSQL: skipped")
        with templates(suite.databases if set(only) - {"peers"} else []) as migrated:
            suite.templates = migrated
            for workload in (w for w in WORKLOADS if w in only):
                if workload == "peers":
                    peers(suite)
                    continue
                for kind in suite.databases:
                    PER_DATABASE[workload](suite, kind)
        for found in ratios(suite.figures):
            suite.add(found)
    except BenchError as exc:
        note(f"error: {exc}")
        return 1
    table(suite.figures, suite.repeat)
    note(f"done in {time.perf_counter() - began:.0f} s")
    return 0

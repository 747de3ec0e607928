"""The command line: arguments, which backends run, the report, and the exit status (0 every
invariant held, 1 one did not, 2 bad arguments, 3 the chaos could not be carried out)."""

from __future__ import annotations

import argparse
import random
import shlex
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

from scripts import chaoslib
from scripts.chaoslib.databases import postgres_problem
from scripts.chaoslib.errors import ChaosError, note
from scripts.chaoslib.figures import Figures
from scripts.chaoslib.phase import run_backend
from scripts.chaoslib.report import emit_json, report
from scripts.chaoslib.settings import BACKENDS, BINARY, CLI, Options

BROKEN, CANNOT = 1, 3


def parse_args() -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(
        prog="scripts/chaos",
        description=chaoslib.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--backend",
        choices=(*BACKENDS, "both"),
        help="which backend (default: both, SQLite alone when no PostgreSQL answers)",
    )
    add("--minutes", type=float, default=10.0, help="length of the window of load and chaos (default 10)")
    add("--kills", type=int, default=10, help="kill -9 this many times per backend (default 10)")
    add(
        "--terminations",
        type=int,
        help="PostgreSQL: terminate every connection this many times (default: kills / 2)",
    )
    add("--instances", type=int, default=3, help="PostgreSQL fleet size (default 3; SQLite runs one)")
    add(
        "--postgres-restart",
        action="store_true",
        help="PostgreSQL: also restart the server once (off by default: it stops every other user of the server)",
    )
    add(
        "--postgres-restart-command",
        default="systemctl restart postgresql",
        help="how (default: %(default)s)",
    )
    add(
        "--binary",
        action="store_true",
        help=f"run the built binary ({BINARY}; EXECUTOR_BINARY) instead of the CLI",
    )
    add("--rate", type=float, default=2.0, help="runs submitted per second (default 2)")
    add("--max-pause", type=float, default=2.0, help="longest pause of a `work` command, in s (default 2)")
    add(
        "--orphan-grace",
        type=float,
        default=1.0,
        help="a command of a killed instance alive this long after the kill is an orphan (default 1 s)",
    )
    add(
        "--drain-timeout",
        type=float,
        default=180.0,
        help="seconds to wait for the accepted runs after the window (default 180)",
    )
    add("--seed", type=int, help="seed of the random choices (default: a new one, printed)")
    add(
        "--keep",
        action="store_true",
        help="keep the working directory (logs, side effects, SQLite file) even when all is well",
    )
    add("--json", action="store_true", help="print one JSON object per backend instead of the report")
    args = parser.parse_args()
    if args.minutes <= 0 or args.rate <= 0 or args.max_pause < 0 or args.orphan_grace <= 0:
        parser.error("--minutes, --rate and --orphan-grace must be positive, --max-pause not negative")
    if args.kills < 0 or (args.terminations or 0) < 0 or args.instances < 1:
        parser.error("--kills and --terminations must not be negative, --instances at least 1")
    if args.binary and not BINARY.is_file():
        parser.error(f"--binary: {BINARY} does not exist (scripts/build-binary builds it)")
    options = Options(
        minutes=args.minutes,
        kills=args.kills,
        terminations=args.kills // 2 if args.terminations is None else args.terminations,
        instances=args.instances,
        rate=args.rate,
        max_pause=args.max_pause,
        orphan_grace=args.orphan_grace,
        drain_timeout=args.drain_timeout,
        postgres_restart=shlex.split(args.postgres_restart_command) if args.postgres_restart else None,
        command=[str(BINARY)] if args.binary else CLI,
        keep=args.keep,
        seed=random.randrange(2**31) if args.seed is None else args.seed,
    )
    if options.orphan_grace >= options.max_pause > 0:
        note(
            f"--orphan-grace {options.orphan_grace:g} >= --max-pause {options.max_pause:g}: no orphan can be seen"
        )
    return args, options


def backends(requested: str | None) -> list[str]:
    problem = postgres_problem() if requested != "sqlite" else None
    if problem and requested in ("postgres", "both"):
        raise ChaosError(problem)
    if problem:
        note(f"{problem}: SQLite only")
        return ["sqlite"]
    return list(BACKENDS) if requested in (None, "both") else [requested]


def main() -> int:
    args, options = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every finally block runs
    session = uuid.uuid4().hex
    root = Path(tempfile.mkdtemp(prefix="executor-chaos-"))
    note(f"seed {options.seed}")
    results: list[Figures] = []
    began = time.monotonic()
    try:
        for backend in backends(args.backend):
            figures = run_backend(backend, options, session, root / backend)
            results.append(figures)
            size = 1 if backend == "sqlite" else options.instances
            if args.json:
                emit_json(
                    figures,
                    minutes=options.minutes,
                    instances=size,
                    seed=options.seed,
                    workdir=str(root / backend),
                )
            else:
                report(figures, options.minutes, size)
    except ChaosError as exc:
        note(f"error: {exc} (working directory kept: {root})")
        return CANNOT
    broken = any(f.broken for f in results)
    if broken or options.keep:
        note(f"working directory kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    note(f"done in {time.monotonic() - began:.0f} s")
    return BROKEN if broken else 0

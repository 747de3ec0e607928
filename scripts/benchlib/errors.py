"""How the suite speaks besides its figures: BenchError stops it, notes go to stderr."""

from __future__ import annotations

import sys


class BenchError(Exception):
    """A measurement that cannot be trusted: the suite stops and says why."""


def note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)

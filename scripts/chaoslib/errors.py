"""How the script speaks besides its figures: ChaosError stops it, notes go to stderr."""

from __future__ import annotations

import sys


class ChaosError(Exception):
    """The chaos could not be carried out (no server, an instance that will not start...)."""


def note(message: str) -> None:
    print(f"chaos: {message}", file=sys.stderr, flush=True)

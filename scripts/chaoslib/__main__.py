"""``python -m scripts.chaoslib``, from the repository's root: what scripts/chaos runs."""

from __future__ import annotations

import sys

from scripts.chaoslib.cli import main

if __name__ == "__main__":
    sys.exit(main())

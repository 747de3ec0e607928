"""``python -m scripts.benchlib``, from the repository's root: what scripts/bench runs."""

from __future__ import annotations

import sys

from scripts.benchlib.cli import main

if __name__ == "__main__":
    sys.exit(main())

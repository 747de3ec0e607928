"""Sizes for people, one way everywhere (errors, the dashboard, the remote CLI)."""

from __future__ import annotations


def format_size(count: int) -> str:
    """Bytes for people: 512 B, 3.4 KiB, 200.0 MiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")

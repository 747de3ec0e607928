"""Sizes and amounts for people, one way everywhere (errors, the dashboard, the remote CLI)."""

from __future__ import annotations


def format_size(count: int) -> str:
    """Bytes for people: 512 B, 3.4 KiB, 200.0 MiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_usd(amount: float) -> str:
    """Dollars for people: cents from $1 ($1,234.50), below it four decimals at least and
    as many as a small amount needs ($0.0210, $0.0000144: a cheap call is not $0.0000)."""
    if amount >= 1:
        return f"${amount:,.2f}"
    whole, _, fraction = f"{amount:.8f}".partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(4, '0')}"

"""Sizes and amounts as people read them (errors, the dashboard, the remote CLI)."""

from __future__ import annotations

import pytest

from executor.sizes import format_size, format_usd


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (200 << 20, "200.0 MiB"), (3 << 40, "3072.0 GiB")],
)
def test_sizes(count: int, shown: str) -> None:
    assert format_size(count) == shown


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0, "$0.0000"),
        (0.021, "$0.0210"),
        (1.44e-05, "$0.0000144"),
        (0.6, "$0.6000"),
        (1, "$1.00"),
        (1234.5, "$1,234.50"),
    ],
)
def test_dollars_keep_what_a_small_amount_needs(amount: float, shown: str) -> None:
    assert format_usd(amount) == shown

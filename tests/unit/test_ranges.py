"""The Range and If-None-Match rules of artifact downloads (RFC 9110), without a server."""

from __future__ import annotations

import pytest

from executor.http.ranges import ByteRange, Unsatisfiable, byte_range, not_modified

ETAG = '"abc"'


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, (0, 5)),
        ("bytes=5-", 10, (5, 10)),
        ("bytes=-3", 10, (7, 10)),
        ("bytes=-30", 10, (0, 10)),
        ("bytes=8-99", 10, (8, 10)),
        (f"bytes=2-{'9' * 400}", 10, (2, 10)),  # an end past anything: the end
        ("Bytes=1-1", 10, (1, 2)),
        # ignored: the whole (200)
        ("bytes=0-1,3-4", 10, None),
        ("bytes=4-2", 10, None),
        ("bytes=-", 10, None),
        ("bytes= 1-2", 10, None),
        ("lines=1-2", 10, None),
        ("bytes=-5", 0, None),  # the last bytes of nothing: the (empty) whole
    ],
)
def test_one_range_or_the_whole(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    found = byte_range(header, size, ETAG)
    assert (None if found is None else (found.start, found.end)) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0), (f"bytes={'9' * 400}-", 10)],
)
def test_a_range_past_the_end_is_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, size, ETAG)


def test_if_range_keeps_the_range_only_for_the_same_etag() -> None:
    assert byte_range("bytes=0-1", 10, ETAG, ETAG) == ByteRange(0, 2, 10)
    assert byte_range("bytes=0-1", 10, ETAG, '"other"') is None
    assert byte_range("bytes=0-1", 10, ETAG, "Wed, 21 Oct 2026 07:28:00 GMT") is None
    assert ByteRange(7, 10, 10).content_range == "bytes 7-9/10"


def test_if_none_match_compares_weakly_and_takes_a_star() -> None:
    assert not_modified(ETAG, ETAG) and not_modified(f'"x", W/{ETAG}', ETAG) and not_modified("*", ETAG)
    assert not not_modified('"x"', ETAG) and not not_modified(None, ETAG)

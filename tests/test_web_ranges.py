"""Parsing Range headers and reading the range from seekable and unseekable streams."""

from __future__ import annotations

import io

import pytest

from gallra.web.ranges import RangeNotSatisfiable, parse_range, read_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-1000", (0, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=9-5", None),
        ("bytes=0-1,4-5", None),
        ("items=0-5", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=250-300"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


class Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self.inner.read(min(size, 7) if size > 0 else 7)


def test_read_range_from_both_kinds_of_stream() -> None:
    data = bytes(range(256)) * 4
    for stream in (io.BytesIO(data), Unseekable(data)):
        got = b"".join(read_range(stream, (300, 700), 64))  # type: ignore[arg-type]
        assert got == data[300:701]

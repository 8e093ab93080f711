"""HTTP byte ranges for streamed blobs, so a player can seek in an hour-long session."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["ByteRange", "RangeNotSatisfiable", "parse_range", "read_range"]

_SINGLE = re.compile(r"^bytes=(\d*)-(\d*)$")
_DIGITS = 19  # past any file's size; a longer number is not parsed at all (int() refuses 4300+)

ByteRange = tuple[int, int]  # first and last byte, inclusive


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes past the end."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range a `Range: bytes=a-b` header asks for; None for the whole blob.

    Several ranges in one header, or anything malformed, are answered with the
    whole blob (RFC 9110 lets a server ignore Range).
    """
    if not header:
        return None
    match = _SINGLE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if len(first.lstrip("0")) > _DIGITS:
        raise RangeNotSatisfiable  # a start past any end
    if len(last.lstrip("0")) > _DIGITS:
        last = str(size)  # an end past the end: up to the end
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None
    return start, end


def read_range(stream: BinaryIO, byte_range: ByteRange, chunk: int) -> Iterator[bytes]:
    """The bytes of `byte_range`, seeking when the stream can, else reading past the start."""
    start, end = byte_range
    if stream.seekable():
        stream.seek(start)
    else:
        skip = start
        while skip > 0:
            dropped = stream.read(min(chunk, skip))
            if not dropped:
                return
            skip -= len(dropped)
    left = end - start + 1
    while left > 0:
        data = stream.read(min(chunk, left))
        if not data:
            return
        left -= len(data)
        yield data

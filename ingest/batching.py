"""Batches bounded by count and by bytes, so memory is set by the batch, not the mailbox.

A hundred small messages make one batch; a hundred 25 MB attachments would
hold 2.5 GB at each of the pipeline's stages, so a batch also closes before
it passes `max_bytes`. A message larger than that travels alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["DEFAULT_BATCH_BYTES", "bounded_batches"]

DEFAULT_BATCH_BYTES = 16 * 1024 * 1024

T = TypeVar("T")


def bounded_batches(
    items: Iterable[T], size_of: Callable[[T], int], *, max_count: int, max_bytes: int
) -> Iterator[list[T]]:
    """Consecutive groups of at most `max_count` items and `max_bytes` (one item may exceed it)."""
    if max_count < 1 or max_bytes < 1:
        raise ValueError(f"batch limits must be positive (count {max_count}, bytes {max_bytes})")
    batch: list[T] = []
    total = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) >= max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        yield batch

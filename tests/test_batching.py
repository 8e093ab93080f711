"""Batches are bounded by count and by bytes; order and every item are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallra.errors import ConfigError
from gallra.settings import get_settings
from ingest.archives import batched
from ingest.batching import bounded_batches
from ingest.mail import RawMessage
from ingest.parse_pool import balanced_shares


def sizes_of(batches: list[list[int]]) -> list[int]:
    return [sum(batch) for batch in batches]


def test_small_items_close_a_batch_by_count() -> None:
    batches = list(bounded_batches([1] * 7, lambda s: s, max_count=3, max_bytes=100))
    assert batches == [[1, 1, 1], [1, 1, 1], [1]]


def test_large_items_close_a_batch_before_it_passes_the_byte_bound() -> None:
    items = [40, 40, 40, 10, 90, 5, 5]
    batches = list(bounded_batches(items, lambda s: s, max_count=100, max_bytes=100))
    assert batches == [[40, 40], [40, 10], [90, 5, 5]]
    assert max(sizes_of(batches)) <= 100


def test_an_item_larger_than_the_bound_travels_alone() -> None:
    batches = list(bounded_batches([5, 500, 5, 5], lambda s: s, max_count=100, max_bytes=100))
    assert batches == [[5], [500], [5, 5]]


def test_every_item_is_kept_once_in_order() -> None:
    items = [(n * 37) % 101 for n in range(500)]
    batches = list(bounded_batches(items, lambda s: s, max_count=9, max_bytes=150))
    assert [x for batch in batches for x in batch] == items
    assert all(len(b) <= 9 and (len(b) == 1 or sum(b) <= 150) for b in batches)


@pytest.mark.parametrize(("count", "size"), [(0, 10), (10, 0), (-1, 10)])
def test_a_bound_below_one_is_refused_by_name(count: int, size: int) -> None:
    with pytest.raises(ValueError, match="batch limits must be positive"):
        list(bounded_batches([1], lambda s: s, max_count=count, max_bytes=size))


def test_archive_batches_are_bounded_by_raw_bytes() -> None:
    messages = [RawMessage(b"x" * size, "mbox:test", str(n)) for n, size in enumerate([60, 60, 30])]
    batches = list(batched(messages, 100, 100))
    assert [[m.source_ref for m in b] for b in batches] == [["0"], ["1", "2"]]


@pytest.mark.parametrize("name", ["BATCH_SIZE", "BATCH_MEGABYTES"])
def test_a_batch_setting_below_one_is_a_clear_config_error(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"GALLRA_MAIL__{name}", "0")
    with pytest.raises(ConfigError, match=f"setting mail.{name.lower()}: .*greater than or equal"):
        get_settings(tmp_path)


def test_the_batch_byte_bound_is_set_in_megabytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert get_settings(tmp_path).mail.batch_bytes == 16 * 1024 * 1024
    monkeypatch.setenv("GALLRA_MAIL__BATCH_MEGABYTES", "3")
    assert get_settings(tmp_path).mail.batch_bytes == 3 * 1024 * 1024


def test_parse_shares_balance_bytes_not_positions() -> None:
    """GIVEN a batch where every other message is large (the bench mailbox puts its large
    attachments at odd positions) THEN each worker gets about half the bytes, and every
    message exactly once.
    """
    sizes = [4_000_000 if n % 2 else 30_000 for n in range(100)]
    shares = balanced_shares(sizes, 2)
    assert sorted(i for share in shares for i in share) == list(range(100))
    loads = [sum(sizes[i] for i in share) for share in shares]
    assert max(loads) - min(loads) <= max(sizes)
    assert balanced_shares([5, 1], 3) == [[0], [1], []]

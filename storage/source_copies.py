"""Where deleted mail still lives at its source, and what deletes it there.

An e-mail can have been seen at several positions (two mailboxes, INBOX and
Sent); a source configured with `enforce_retention` has an eraser that
deletes and verifies its copy. The sweep calls them before it deletes the
item, and keeps the item (`deleting`, retried) when any copy stays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.enums import ItemKind
from models.tables import Item, ItemSource

__all__ = ["Erasers", "SourceCopy", "SourceEraser", "erase_at_sources"]


@dataclass(frozen=True)
class SourceCopy:
    """Where the original of an item still lives at its source (no content)."""

    item_id: int
    source: str
    source_ref: str
    message_id: str | None
    sha256: str


class SourceEraser(Protocol):
    """Deletes the originals at a source (e.g. the IMAP server) and verifies they are gone."""

    def erase(self, copies: Sequence[SourceCopy]) -> dict[int, str]:
        """Delete each copy; return item id -> reason for every copy still present."""
        ...


Erasers = Mapping[str, SourceEraser]  # source prefix ("imap:practice") -> eraser


def _positions(engine: Engine, items: list[Item]) -> list[SourceCopy]:
    """Every place each e-mail was seen at (the one stored with the item included)."""
    emails = {
        item.id: item for item in items if item.kind == ItemKind.EMAIL.value and item.id is not None
    }
    if not emails:
        return []
    seen: set[tuple[int, str, str]] = {
        (item_id, item.source, item.source_ref) for item_id, item in emails.items()
    }
    with Session(engine) as session:
        seen |= set(
            session.exec(
                select(ItemSource.item_id, ItemSource.source, ItemSource.source_ref).where(
                    col(ItemSource.item_id).in_(list(emails))
                )
            )
        )
    return [
        SourceCopy(item_id, source, ref, emails[item_id].message_id, emails[item_id].sha256)
        for item_id, source, ref in sorted(seen)
    ]


def erase_at_sources(
    engine: Engine, items: list[Item], erasers: Erasers
) -> tuple[set[int], dict[int, str]]:
    """Delete the originals at every source position first; (erased item ids, failures).

    A message seen in two mailboxes has a position in each: each source's
    eraser deletes and verifies its copy. One that fails keeps the item
    (`deleting`, retried next sweep; doctor lists it).
    """
    erased: set[int] = set()
    failed: dict[int, str] = {}
    positions = _positions(engine, items) if erasers else []
    for prefix, eraser in erasers.items():
        copies = [copy for copy in positions if copy.source.startswith(prefix + "/")]
        if not copies:
            continue
        failures = eraser.erase(copies)
        failed.update(failures)
        erased |= {copy.item_id for copy in copies if copy.item_id not in failures}
    return erased - set(failed), failed

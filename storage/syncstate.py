"""Where each mail source's folders stand: UIDVALIDITY, the last committed UID, and the
messages a server would not deliver (tried again every sync, listed by doctor).

The sync state of a batch is saved in the same transaction as the batch's
items, so a crash never skips or repeats a message; it is one upsert, so two
syncs of one source cannot both insert it. No personal data: labels, folder
names of the practice's own mailbox, numbers and error types.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import case, delete
from sqlmodel import Session, col, select

from models.tables import Item, SyncState, UnfetchedMessage
from models.types import utcnow
from storage.bulk import upsert

__all__ = [
    "forget_unfetched_of_other_uidvalidity",
    "indexed_message_ids",
    "record_unfetched",
    "save_state",
    "sync_state",
    "unfetched_uids",
]


def sync_state(session: Session, source: str, folder: str) -> SyncState | None:
    return session.exec(
        select(SyncState).where(SyncState.source == source, SyncState.folder == folder)
    ).first()


def save_state(
    source: str, folder: str, uidvalidity: int, last_uid: int
) -> Callable[[Session], None]:
    """The batch's sync-state update, one upsert: two syncs of one source can race here."""

    def save(session: Session) -> None:
        table = SyncState.__table__  # type: ignore[attr-defined]
        upsert(
            session,
            SyncState,
            {
                "source": source,
                "folder": folder,
                "uidvalidity": uidvalidity,
                "last_uid": last_uid,
                "updated_at": utcnow(),
            },
            keys=["source", "folder"],
            update=lambda new: {
                "uidvalidity": new.uidvalidity,
                # Never backwards within one UIDVALIDITY; anew after it changed.
                "last_uid": case(
                    (
                        (table.c.uidvalidity == new.uidvalidity)
                        & (table.c.last_uid > new.last_uid),
                        table.c.last_uid,
                    ),
                    else_=new.last_uid,
                ),
                "updated_at": new.updated_at,
            },
        )

    return save


def unfetched_uids(session: Session, source: str, folder: str, uidvalidity: int) -> list[int]:
    return sorted(
        session.exec(
            select(UnfetchedMessage.uid).where(
                UnfetchedMessage.source == source,
                UnfetchedMessage.folder == folder,
                UnfetchedMessage.uidvalidity == uidvalidity,
            )
        )
    )


def forget_unfetched_of_other_uidvalidity(
    session: Session, source: str, folder: str, uidvalidity: int
) -> None:
    """A recreated folder numbers its messages anew: reconciling fetches them again."""
    session.execute(
        delete(UnfetchedMessage).where(
            col(UnfetchedMessage.source) == source,
            col(UnfetchedMessage.folder) == folder,
            col(UnfetchedMessage.uidvalidity) != uidvalidity,
        )
    )


def record_unfetched(
    session: Session,
    source: str,
    folder: str,
    uidvalidity: int,
    batch: list[int],
    failed: dict[int, str],
) -> None:
    """In the batch's commit: a row per message that failed, none for the rest."""
    rows = {
        row.uid: row
        for row in session.exec(
            select(UnfetchedMessage).where(
                UnfetchedMessage.source == source,
                UnfetchedMessage.folder == folder,
                UnfetchedMessage.uidvalidity == uidvalidity,
                col(UnfetchedMessage.uid).in_(batch),
            )
        )
    }
    now = utcnow()
    for uid in batch:
        row = rows.get(uid)
        if uid not in failed:
            if row is not None:
                session.delete(row)  # fetched now, or gone from the server
            continue
        if row is None:
            row = UnfetchedMessage(
                source=source, folder=folder, uidvalidity=uidvalidity, uid=uid, reason=failed[uid]
            )
        else:
            row.attempts += 1
            row.reason = failed[uid]
            row.last_failed_at = now
        session.add(row)


def indexed_message_ids(session: Session, message_ids: set[str]) -> set[str]:
    """Which of these Message-IDs the index already holds."""
    found = session.exec(select(Item.message_id).where(col(Item.message_id).in_(message_ids)))
    return {message_id for message_id in found if message_id is not None}

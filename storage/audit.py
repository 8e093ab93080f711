"""The audit trail: who viewed, searched, downloaded or changed what, and when.

Entries carry opaque ids, an action name and counts or option names: never a
search text, a name, an address or any content, so the trail itself holds no
personal data beyond the ids it points at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, text

from models.types import UTCDateTime

if TYPE_CHECKING:
    from sqlmodel import Session

    from models.tables import AuditEvent

__all__ = ["audit_events", "record"]

# One plain INSERT (no ORM): `gallra search` writes its row without loading the models.
_INSERT = text(
    "INSERT INTO auditevent (at, actor, action, item_id, subject_id, detail) "
    "VALUES (:at, :actor, :action, :item_id, :subject_id, :detail)"
).bindparams(bindparam("at", type_=UTCDateTime()))


def record(
    session: Session | Connection,
    *,
    actor: str,
    action: str,
    at: datetime,
    item_id: int | None = None,
    subject_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one event (the caller commits)."""
    session.execute(
        _INSERT,
        {
            "at": at,
            "actor": actor,
            "action": action,
            "item_id": item_id,
            "subject_id": subject_id,
            "detail": json.dumps(dict(detail or {}), sort_keys=True, default=str),
        },
    )


def audit_events(
    session: Session,
    *,
    since: datetime | None = None,
    subject_id: int | None = None,
    item_id: int | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The newest events first, optionally about one subject or item."""
    from sqlmodel import col, select

    from models.tables import AuditEvent

    query = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    if subject_id is not None:
        query = query.where(AuditEvent.subject_id == subject_id)
    if item_id is not None:
        query = query.where(AuditEvent.item_id == item_id)
    return list(session.exec(query))

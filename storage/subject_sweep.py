"""Deleting people the practice may no longer keep: their entry and all that hangs on it.

A person goes with their last item (a prospect), or when their registry
retention ends (a client: 5 years after the end of the year their agreement
ended), and never while a hold or an open request (other than erasure)
keeps them. A marketing block survives as keyed hashes of their addresses.
Each deletion is a ledger entry naming the person's id only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from models.clock import local_date
from models.enums import SubjectStatus
from models.policy import Policy
from models.retention import compute_expiry, registry_probe
from models.tables import (
    Engagement,
    EngagementParty,
    Hold,
    Identifier,
    ItemSubject,
    Request,
    Subject,
)
from storage import ledger
from storage.engine import transaction
from storage.registry import block_marketing_to, subject_facts

if TYPE_CHECKING:
    from storage.sweep import SweepResult

__all__ = ["delete_subject", "sweep_subjects"]


def delete_subject(
    session: Session, subject: Subject, now: datetime, hash_key: bytes | None, **facts: Any
) -> None:
    """Delete a person's entry and all that hangs on it, ledgered by id (see `_sweep_subjects`).

    A marketing block survives as keyed hashes of the addresses.
    """
    assert subject.id is not None
    if subject.marketing_blocked_on is not None and hash_key:
        block_marketing_to(session, subject_id=subject.id, hash_key=hash_key)
    engagements = [
        e.id for e in session.exec(select(Engagement).where(Engagement.client_id == subject.id))
    ]
    if engagements:
        session.execute(
            delete(EngagementParty).where(col(EngagementParty.engagement_id).in_(engagements))
        )
        session.execute(delete(Engagement).where(col(Engagement.id).in_(engagements)))
    session.execute(delete(Identifier).where(col(Identifier.subject_id) == subject.id))
    session.execute(delete(EngagementParty).where(col(EngagementParty.subject_id) == subject.id))
    session.execute(delete(Hold).where(col(Hold.subject_id) == subject.id))
    session.execute(
        update(Request).where(col(Request.subject_id) == subject.id).values(subject_id=None)
    )
    session.delete(subject)
    session.flush()
    ledger.append(
        session,
        at=now,
        action="subject-deleted",
        detail={
            "subject_id": subject.id,
            "engagements_deleted": len(engagements),
            "marketing_block_kept_as_hash": subject.marketing_blocked_on is not None,
            **facts,
        },
    )


def _registry_expired(
    session: Session, policy: Policy, subject: Subject, today_dt: datetime, *, lost_last_item: bool
) -> bool:
    """Whether a person with no items left may go.

    A prospect's entry goes with their last item (POLICY.md rule 3); one who
    never had an item, 3 months after they were registered. A client's entry
    lives like an agreement record (5 years after the end of the year the
    contract ended).
    """
    assert subject.id is not None
    facts = subject_facts(session, subject_ids=[subject.id])[subject.id]
    if lost_last_item and facts.status is SubjectStatus.PROSPECT:
        return True
    expiry = compute_expiry(policy, registry_probe(facts, local_date(subject.created_at)), [facts])
    return expiry.expires_at is not None and expiry.expires_at <= today_dt


def sweep_subjects(
    engine: Engine, policy: Policy, result: SweepResult, now: datetime, hash_key: bytes | None
) -> None:
    """Delete people with nothing left, no running agreement, no hold, no open request."""
    with transaction(engine) as session:
        with_items = select(ItemSubject.subject_id)
        held = select(Hold.subject_id).where(
            col(Hold.lifted_at).is_(None), col(Hold.subject_id).is_not(None)
        )
        # An open request keeps the person, except an erasure request: it never
        # blocks its own erasure.
        open_requests = select(Request.subject_id).where(
            Request.status == "open",
            col(Request.subject_id).is_not(None),
            Request.right != "erasure",
        )
        candidates = list(
            session.exec(
                select(Subject).where(
                    col(Subject.id).not_in(with_items),
                    col(Subject.id).not_in(held),
                    col(Subject.id).not_in(open_requests),
                )
            )
        )
        for subject in candidates:
            lost_last_item = subject.id in result.touched_subjects
            if not _registry_expired(session, policy, subject, now, lost_last_item=lost_last_item):
                continue
            assert subject.id is not None
            result.deleted_subjects[subject.id] = subject.created_at.isoformat()
            delete_subject(session, subject, now, hash_key)
            result.subjects_deleted += 1

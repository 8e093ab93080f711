"""Data-subject rights as jobs (the CLI and the flows run these).

Erasure, objection and consent withdrawal only move dates; the sweep does
every deletion, here run at once (or left to the nightly run). Outputs hold
ids, hashes, rules and dates: no names, addresses or personnummer.

Over 300 lines because each right's job (export, erasure, objection, consent)
moves dates the same way and leaves deleting to the sweep.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from gallra.access_report import render_access_report
from gallra.errors import NotFound
from gallra.i18n import N_
from gallra.jobs import sweep
from gallra.wiring import App
from models.clock import local_date
from models.enums import ItemKind, LegalBasis, ParseStatus, RequestRight
from models.errors import InvalidInput
from models.retention import compute_expiry, last_day_kept
from models.tables import (
    Consent,
    ItemSubject,
    LedgerEntry,
    Subject,
)
from storage import ledger
from storage.expiry import item_facts, recompute
from storage.export import ExportResult, build_export
from storage.items import add_item, link_subjects, stamp_expiry
from storage.locks import exclusive
from storage.registry import block_marketing_to
from storage.requests import close_request, open_request
from storage.sweep import SweepResult

__all__ = [
    "ConsentChanged",
    "ErasureCertificate",
    "Exported",
    "Kept",
    "Objected",
    "erase",
    "export",
    "object_to_marketing",
    "set_consent",
]


def _subject(session: Session, subject_id: int) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"subject {subject_id}: no such subject")
    return subject


@dataclass(frozen=True)
class Exported:
    """An access bundle written and kept (encrypted) as an export item; no personal data."""

    items: int
    files: int
    size: int
    sha256: str
    also_about_others: list[int]  # items also about other people: review before sending
    export_item_id: int
    kept_until: str | None


@dataclass(frozen=True)
class Objected:
    """A direct-marketing block (art. 21)."""

    subject_id: int
    blocked_on: str
    items_now_due: int
    deleted: int


@dataclass(frozen=True)
class ConsentChanged:
    """A consent recorded or withdrawn (art. 7(3))."""

    subject_id: int
    purpose: str
    given: bool
    items_changed: int
    deleted: int


def export(gallra: App, *, subject_id: int, out: Path, portable_only: bool = False) -> Exported:
    """The access (or portability) bundle; the bundle is kept 30 days as an item itself."""
    now = gallra.clock.now()
    with gallra.session() as session:
        _subject(session, subject_id)
        result: ExportResult = build_export(
            session,
            gallra.blobs,
            gallra.policy,
            subject_id=subject_id,
            out=out,
            now=now,
            portable_only=portable_only,
            recipients=[f"storage processor: {gallra.settings.blobs.backend}"],
            readme=render_access_report,
        )
    with out.open("rb") as handle:
        stored = gallra.blobs.put(
            f"export/{uuid.uuid4().hex}", handle, expected_sha256=result.sha256
        )
    with gallra.session() as session:
        item = add_item(
            session,
            stored=stored,
            kind=ItemKind.EXPORT,
            source="export",
            received_at=now,
            purpose="rights_request",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            title=f"export-{subject_id}-{local_date(now).isoformat()}.zip",
            mime_type="application/zip",
            parse_status=ParseStatus.OK,
        )
        assert item.id is not None
        link_subjects(session, item_id=item.id, links=[(subject_id, "export", "access export")])
        stamp_expiry(session, gallra.policy, item=item, subject_ids=[subject_id])
    gallra.bind_keys([stored.key])
    day = last_day_kept(item.expires_at)
    return Exported(
        items=result.items,
        files=result.files,
        size=result.size,
        sha256=result.sha256,
        also_about_others=result.also_about_others,
        export_item_id=item.id,
        kept_until=day.isoformat() if day else None,
    )


@dataclass
class ErasureCertificate:
    """What an erasure did, provable and free of personal data."""

    subject_id: int
    request_id: int | None
    received_on: str
    completed_on: str
    dry_run: bool
    deleted: list[dict[str, Any]] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    subject_entry: str = ""
    ledger_position: dict[str, Any] = field(default_factory=dict)
    sweep_failures: int = 0
    others_swept: int = 0  # the same sweep's deletions of other people's items, due anyway


@dataclass(frozen=True)
class Kept:
    """An item an erasure keeps, and why (a rule, a law, a hold; never content)."""

    item_id: int
    kind: str
    why: str
    rule: str
    deletable_from: str | None


def _plan(
    session: Session, gallra: App, subject_id: int, today: date
) -> tuple[list[int], list[Kept], list[int]]:
    """(items that go, items kept with why, shared items whose link to this person is cut)."""
    from dataclasses import replace

    from storage.erasure import erasure_view

    view = erasure_view(session, subject_id=subject_id)
    erased = replace(view.facts[subject_id], erasure_on=today)
    going: list[int] = []
    kept: list[Kept] = []
    unlink: list[int] = []
    for item in view.items:
        assert item.id is not None
        others = view.others.get(item.id, [])
        claims = [erased, *(view.facts[s] for s in others)]
        expiry = compute_expiry(gallra.policy, item_facts(item), claims)
        if view.person_held or item.id in view.held_items:
            why = N_("legal hold or restriction")
            kept.append(Kept(item.id, item.kind, why, item.rule_id, None))
            continue
        if expiry.deletable_from is not None and expiry.deletable_from <= today:
            going.append(item.id)
            continue
        own = compute_expiry(gallra.policy, item_facts(item), [erased])
        needed_by_another = bool(others) and (
            own.deletable_from is not None and own.deletable_from <= today
        )
        why = (
            N_("another person's agreement still needs it")
            if needed_by_another
            else f"a legal obligation ({gallra.policy.rule(expiry.rule_id).law or expiry.rule_id})"
        )
        if needed_by_another:
            unlink.append(item.id)
        day = expiry.deletable_from.isoformat() if expiry.deletable_from else None
        kept.append(Kept(item.id, item.kind, why, expiry.rule_id, day))
    return going, kept, unlink


def erase(
    gallra: App, *, subject_id: int, dry_run: bool = False, run_sweep: bool = True
) -> ErasureCertificate:
    """Art. 17: everything about the person goes except what a legal basis still needs.

    Planned, marked and swept under the exclusive lock, so a sweep that runs at
    the same moment cannot delete the person between the plan and the marks. A
    person the sweep already deleted is answered from the ledger, not refused.
    """
    if dry_run:
        return _erase(gallra, subject_id, dry_run=True, run_sweep=False)
    with exclusive(gallra.require_index()):
        return _erase(gallra, subject_id, dry_run=False, run_sweep=run_sweep)


def _already_deleted(gallra: App, subject_id: int, dry_run: bool) -> ErasureCertificate:
    """The certificate for a person whose entry the ledger shows deleted; NotFound if never."""
    with gallra.session() as session:
        entry = ledger.subject_deletion(session, subject_id)
        if entry is None:
            raise NotFound(f"subject {subject_id}: no such subject")
        head = ledger.head(session)
    today = gallra.today.isoformat()
    return ErasureCertificate(
        subject_id=subject_id,
        request_id=None,
        received_on=today,
        completed_on=today,
        dry_run=dry_run,
        subject_entry=f"deleted before this request (ledger entry {entry.seq})",
        ledger_position={"seq": head.seq, "entry_hash": head.entry_hash},
    )


def _erase(gallra: App, subject_id: int, *, dry_run: bool, run_sweep: bool) -> ErasureCertificate:
    today = gallra.today
    with gallra.session() as session:
        if session.get(Subject, subject_id) is None:
            session.rollback()
            return _already_deleted(gallra, subject_id, dry_run)
        going, kept, unlink = _plan(session, gallra, subject_id, today)
        session.rollback()
    cert = ErasureCertificate(
        subject_id=subject_id,
        request_id=None,
        received_on=today.isoformat(),
        completed_on="",
        dry_run=dry_run,
        deleted=[{"item_id": i} for i in going],
        kept=kept,
    )
    if dry_run:
        return cert
    with gallra.session() as session:
        request = open_request(
            session, subject_id=subject_id, right=RequestRight.ERASURE, received_on=today
        )
        cert.request_id = request.id
        subject = _subject(session, subject_id)
        subject.erasure_requested_on = today
        session.add(subject)
        for item_id in unlink:
            for link in session.exec(
                select(ItemSubject).where(
                    ItemSubject.item_id == item_id, ItemSubject.subject_id == subject_id
                )
            ):
                session.delete(link)
        session.flush()
        recompute(session, gallra.policy, item_ids=[*going, *unlink])
    result: SweepResult | None = sweep(gallra) if run_sweep else None
    with gallra.session() as session:
        entries = {
            e.item_id: e
            for e in session.exec(select(LedgerEntry).where(col(LedgerEntry.item_id).in_(going)))
        }
        cert.deleted = [
            {
                "item_id": i,
                "kind": entries[i].item_kind,
                "sha256": entries[i].sha256,
                "verified": json.loads(entries[i].detail).get("verified", []),
                "ledger_seq": entries[i].seq,
            }
            if i in entries
            else {"item_id": i, "status": "due; deleted by the next sweep"}
            for i in going
        ]
        gone = session.get(Subject, subject_id) is None
        cert.subject_entry = "deleted" if gone else "kept while items above remain"
        head = ledger.head(session)
        cert.ledger_position = {"seq": head.seq, "entry_hash": head.entry_hash}
        cert.sweep_failures = len(result.failures) if result else 0
        cert.others_swept = max(0, (result.deleted if result else 0) - len(entries))
        cert.completed_on = gallra.today.isoformat()
        assert cert.request_id is not None
        close_request(
            session,
            request_id=cert.request_id,
            at=gallra.clock.now(),
            outcome=json.dumps({"deleted": len(going), "kept": len(kept)}),
        )
    return cert


def object_to_marketing(gallra: App, *, subject_id: int, run_sweep: bool = True) -> Objected:
    """Art. 21: marketing stops today; the block survives as keyed hashes of the addresses."""
    with gallra.session() as session:
        subject = _subject(session, subject_id)
        subject.marketing_blocked_on = gallra.today
        session.add(subject)
        block_marketing_to(session, subject_id=subject_id, hash_key=gallra.hash_key)
        changes = recompute(session, gallra.policy, subject_ids=[subject_id])
    result = sweep(gallra) if run_sweep else None
    return Objected(
        subject_id=subject_id,
        blocked_on=gallra.today.isoformat(),
        items_now_due=len([c for c in changes if c.new_rule == "marketing"]),
        deleted=result.deleted if result else 0,
    )


def set_consent(
    gallra: App, *, subject_id: int, purpose: str, given: bool, run_sweep: bool = True
) -> ConsentChanged:
    """Art. 7(3): record a consent, or withdraw it (what rested on it alone goes)."""
    if (
        purpose not in gallra.policy.purposes
        or LegalBasis.CONSENT not in gallra.policy.purposes[purpose].legal_bases
    ):
        raise InvalidInput(
            f"--purpose {purpose}: not a purpose that rests on consent in the policy"
        )
    now = gallra.clock.now()
    with gallra.session() as session:
        _subject(session, subject_id)
        if given:
            session.add(Consent(subject_id=subject_id, purpose=purpose, given_at=now))
        else:
            current = session.exec(
                select(Consent).where(
                    Consent.subject_id == subject_id,
                    Consent.purpose == purpose,
                    col(Consent.withdrawn_at).is_(None),
                )
            ).all()
            if not current:
                raise InvalidInput(f"subject {subject_id}: no consent for {purpose} to withdraw")
            for consent in current:
                consent.withdrawn_at = now
                session.add(consent)
        session.flush()
        changes = recompute(session, gallra.policy, subject_ids=[subject_id])
    result = sweep(gallra) if (run_sweep and not given) else None
    return ConsentChanged(
        subject_id=subject_id,
        purpose=purpose,
        given=given,
        items_changed=len(changes),
        deleted=result.deleted if result else 0,
    )

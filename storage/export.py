"""The access export (DSAR bundle, art. 15 and 20): one zip, streamed, whole or absent.

Contents: README.html (Swedish and English: what is held, why, on what
basis, from where, to whom, until when, the person's rights and how to
complain to IMY), data.json (schema-versioned: registry data, consents,
every item with its facts and its path in the bundle), files/ (the
originals under safe names) and SHA256SUMS. The zip is written to a temp
name beside the target and renamed only when complete, so a failed export
never looks like one. Files stream through in 1 MB chunks.

Over 300 lines because the access bundle's data.json and its README are
written from the same rows.
"""

from __future__ import annotations

import hashlib
import html
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlmodel import Session, col, select

from models.clock import local_date
from models.enums import LegalBasis
from models.errors import InvalidInput
from models.policy import Policy
from models.retention import last_day_kept
from models.tables import Consent, Engagement, Identifier, Item, ItemSubject, Request, Subject
from storage.blobs import BlobStore, open_for_item
from storage.listing import live_items_of
from storage.sink import copy_checked, file_sink, sha256_of

__all__ = ["SCHEMA", "ExportResult", "build_export"]

SCHEMA = "gallra.dsar/1"
_EXT = {"email": ".eml"}


@dataclass
class ExportResult:
    """What went into the bundle (ids and counts; the bundle itself holds the data)."""

    path: Path
    sha256: str = ""
    size: int = 0
    items: int = 0
    files: int = 0
    also_about_others: list[int] = field(default_factory=list)


def _kept_until(item: Item) -> str | None:
    day = last_day_kept(item.expires_at)
    return None if day is None else day.isoformat()


def _safe(name: str, fallback: str) -> str:
    cleaned = "".join(ch for ch in name.replace("/", "_").replace("\\", "_") if ch.isprintable())
    cleaned = cleaned.strip().lstrip(".")[:100]
    return cleaned or fallback


def _table_rows(rows: list[tuple[str, ...]]) -> str:
    """HTML table rows, every cell escaped."""
    return "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )


class Readme(Protocol):
    """Writes the bundle's README.html from its rows (the gallra layer's access report)."""

    def __call__(
        self, name: str, rows: list[dict[str, Any]], *, generated: date, recipients: list[str]
    ) -> str: ...


def _plain_readme(
    name: str, rows: list[dict[str, Any]], *, generated: date, recipients: list[str]
) -> str:
    """A bare list, for a caller that brings no report of its own."""
    esc = html.escape
    items = "".join(f"<li>{esc(str(r['id']))}: {esc(r['title'])}</li>" for r in rows)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(name)}</title></head>'
        f"<body><h1>{esc(name)}</h1><p>{generated.isoformat()}</p><ul>{items}</ul></body></html>"
    )


def build_export(
    session: Session,
    blobs: BlobStore,
    policy: Policy,
    *,
    subject_id: int,
    out: Path,
    now: datetime,
    portable_only: bool = False,
    recipients: list[str] | None = None,
    readme: Readme | None = None,
) -> ExportResult:
    """Write the bundle for one person to `out` (see the module doc)."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise InvalidInput(f"subject {subject_id}: no such subject")
    items = live_items_of(session, subject_id=subject_id)
    others = {
        item_id
        for item_id, _ in session.exec(
            select(ItemSubject.item_id, ItemSubject.subject_id).where(
                col(ItemSubject.item_id).in_([i.id for i in items]),
                ItemSubject.subject_id != subject_id,
            )
        )
    }

    def portable(item: Item) -> bool:
        return item.provided_by_subject and item.legal_basis in (
            LegalBasis.CONTRACT.value,
            LegalBasis.CONSENT.value,
        )

    if portable_only:
        items = [i for i in items if portable(i)]
    result = ExportResult(path=out, also_about_others=sorted(i for i in others if i is not None))
    with (
        file_sink(out) as handle,
        zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as bundle,
    ):
        rows, manifest = _write_files(bundle, blobs, items, others, portable)
        data = _bundle_data(session, subject, policy, now, portable_only, recipients, rows)
        report = (readme or _plain_readme)(
            subject.display_name, rows, generated=local_date(now), recipients=recipients or []
        )
        for name, text in (
            ("data.json", json.dumps(data, ensure_ascii=False, indent=2)),
            ("README.html", report),
        ):
            payload = text.encode("utf-8")
            bundle.writestr(name, payload)
            manifest.append(f"{hashlib.sha256(payload).hexdigest()}  {name}")
        bundle.writestr("SHA256SUMS", "\n".join(manifest) + "\n")
    result.sha256 = sha256_of(out)
    result.size = out.stat().st_size
    result.items = len(rows)
    result.files = len(rows)
    return result


def _write_files(
    bundle: zipfile.ZipFile,
    blobs: BlobStore,
    items: list[Item],
    others: set[int],
    portable: Callable[[Item], bool],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each item's bytes into the bundle, checked; its row for data.json and the manifest."""
    rows: list[dict[str, Any]] = []
    manifest: list[str] = []
    for item in items:
        assert item.id is not None
        name = f"files/{item.id:06d}-{_safe(item.title, item.kind)}"
        if item.kind in _EXT and not name.endswith(_EXT[item.kind]):
            name += _EXT[item.kind]
        with (
            open_for_item(blobs, item.id, item.blob_key) as source,
            bundle.open(name, "w", force_zip64=True) as sink,
        ):
            copy_checked(source, sink, sha256=item.sha256, what=f"item {item.id}")
        manifest.append(f"{item.sha256}  {name}")
        rows.append(
            {
                "id": item.id,
                "kind": item.kind,
                "title": item.title,
                "received_at": item.received_at.isoformat(),
                "purpose": item.purpose,
                "legal_basis": item.legal_basis,
                "special_category": item.special_category,
                "provided_by_subject": item.provided_by_subject,
                "portable": portable(item),
                "source": item.source.split("/")[0],
                "mime_type": item.mime_type,
                "size": item.size,
                "sha256": item.sha256,
                "rule": item.rule_id,
                "kept_until": _kept_until(item),
                "also_about_others": item.id in others,
                "duration_seconds": item.duration_seconds,
                "path": name,
            }
        )
    return rows, manifest


def _bundle_data(
    session: Session,
    subject: Subject,
    policy: Policy,
    now: datetime,
    portable_only: bool,
    recipients: list[str] | None,
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    """data.json: the person, their agreements, consents, requests, recipients and items."""
    subject_id = subject.id
    identifiers = session.exec(select(Identifier).where(Identifier.subject_id == subject_id))
    return {
        "schema": SCHEMA,
        "generated_at": now.isoformat(),
        "policy": policy.label,
        "portable_only": portable_only,
        "subject": {
            "id": subject.id,
            "name": subject.display_name,
            "roles": subject.role_list,
            "identifiers": [
                {"kind": i.kind, "value": i.masked if i.kind == "personnummer" else i.value}
                for i in identifiers
            ],
            "marketing_blocked_on": (
                subject.marketing_blocked_on.isoformat() if subject.marketing_blocked_on else None
            ),
        },
        "engagements": [
            {
                "id": e.id,
                "starts_on": e.starts_on.isoformat(),
                "ends_on": e.ends_on.isoformat() if e.ends_on else None,
            }
            for e in session.exec(select(Engagement).where(Engagement.client_id == subject_id))
        ],
        "consents": [
            {
                "purpose": c.purpose,
                "given_at": c.given_at.isoformat(),
                "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
            }
            for c in session.exec(select(Consent).where(Consent.subject_id == subject_id))
        ],
        "requests": [
            {
                "id": r.id,
                "right": r.right,
                "received_on": r.received_on.isoformat(),
                "deadline": r.deadline.isoformat(),
                "status": r.status,
            }
            for r in session.exec(select(Request).where(Request.subject_id == subject_id))
        ],
        "recipients": recipients or [],
        "items": rows,
    }

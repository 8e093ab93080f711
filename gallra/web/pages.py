"""The pages (GET): search, subject, item, content, the unassigned queue, the audit trail."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.responses import Response

from gallra.errors import NotFound
from gallra.rights import erase
from gallra.web.mailview import mail_view
from gallra.web.ranges import RangeNotSatisfiable, parse_range, read_range
from gallra.web.rendering import render_page
from gallra.web.security import Viewer, viewer_of
from gallra.web.views import (
    PARTY_ROLES,
    SubjectPage,
    item_page,
    live_item,
    subject_choices,
    subject_page,
)
from gallra.wiring import App
from models.enums import HoldKind, ItemKind, RequestRight
from storage.audit import audit_events, record
from storage.blobs import open_for_item
from storage.listing import unassigned_items

__all__ = ["gallra_of", "render", "router", "viewer"]

router = APIRouter()
_CHUNK = 1024 * 1024
# Shown in the page (audio, video); anything else is only ever a download.
_PLAYABLE = ("audio/", "video/")


def gallra_of(request: Request) -> App:
    """The App the web app was built over."""
    gallra: App = request.app.state.gallra
    return gallra


def viewer(request: Request) -> Viewer:
    """Dependency: the logged-in user (LoginRequired otherwise)."""
    return viewer_of(request, gallra_of(request))


Logged = Annotated[Viewer, Depends(viewer)]


def render(
    request: Request, name: str, who: Viewer, status_code: int = 200, **context: Any
) -> Response:
    """A page in the viewer's language with their CSRF token in reach of every form."""
    return render_page(request, name, who=who, status_code=status_code, **context)


def _audited_subject(
    request: Request,
    who: Viewer,
    subject_id: int,
    action: str,
    detail: dict[str, Any] | None = None,
) -> SubjectPage:
    """A person's page data, with the view written to the audit trail."""
    gallra = gallra_of(request)
    with gallra.session() as session:
        view = subject_page(session, gallra.policy, subject_id=subject_id, today=gallra.today)
        record(
            session,
            actor=who.actor,
            action=action,
            at=gallra.clock.now(),
            subject_id=subject_id,
            detail=detail,
        )
    return view


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
def subject_view(request: Request, who: Logged, subject_id: int) -> Response:
    """A person and everything held about them."""
    return render_subject(request, who, subject_id, action="view-subject")


def render_subject(
    request: Request,
    who: Viewer,
    subject_id: int,
    *,
    action: str,
    checked: bool | None = None,
    detail: dict[str, Any] | None = None,
) -> Response:
    """A person's page, its view audited as `action` (with `detail`)."""
    gallra = gallra_of(request)
    view = _audited_subject(request, who, subject_id, action, detail)
    with gallra.session() as session:
        choices = subject_choices(session)
    return render(
        request,
        "subject.html",
        who,
        view=view,
        checked=checked,
        choices=choices,
        rights=[r.value for r in RequestRight],
        hold_kinds=[HoldKind.LEGAL_HOLD.value, HoldKind.RESTRICTION.value],
        party_roles=PARTY_ROLES,
    )


@router.get("/subjects/{subject_id}/erase", response_class=HTMLResponse)
def erase_preview(request: Request, who: Logged, subject_id: int) -> Response:
    """The erasure dry run: what would go and what must stay, and why."""
    gallra = gallra_of(request)
    cert = erase(gallra, subject_id=subject_id, dry_run=True)
    detail = {"would_delete": len(cert.deleted), "kept": len(cert.kept)}
    view = _audited_subject(request, who, subject_id, "erase-preview", detail)
    return render(request, "erase.html", who, view=view, cert=cert)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_view(request: Request, who: Logged, item_id: int) -> Response:
    """One item: its people and dates, and the message or the player."""
    gallra = gallra_of(request)
    with gallra.session() as session:
        view = item_page(session, item_id=item_id)
        record(session, actor=who.actor, action="view-item", at=gallra.clock.now(), item_id=item_id)
        choices = subject_choices(session) if not view.subjects else []
    mail = None
    too_big = False
    if view.item.kind == ItemKind.EMAIL.value:
        limit = gallra.settings.web.max_inline_mb * 1024 * 1024
        if view.item.size > limit:
            too_big = True
        else:
            with open_for_item(gallra.blobs, item_id, view.item.blob_key) as stream:
                mail = mail_view(stream.read(limit + 1))
    playable = view.item.mime_type.startswith(_PLAYABLE)
    return render(
        request,
        "item.html",
        who,
        view=view,
        mail=mail,
        too_big=too_big,
        playable=playable,
        show_html=request.query_params.get("html") == "1",
        choices=choices,
        hold_kinds=[HoldKind.LEGAL_HOLD.value, HoldKind.RESTRICTION.value],
    )


@router.get("/items/{item_id}/content")
def item_content(request: Request, who: Logged, item_id: int) -> Response:
    """The stored bytes, streamed: played in the page for audio and video, else downloaded.

    A player asks for byte ranges to seek; only the first request of a playback
    (from byte 0) is audited, not every seek.
    """
    gallra = gallra_of(request)
    with gallra.session() as session:
        item = live_item(session, item_id=item_id)  # each seek asks again: keep it light
    playable = item.mime_type.startswith(_PLAYABLE)
    try:
        wanted = parse_range(request.headers.get("range"), item.size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{item.size}"})
    if wanted is None or wanted[0] == 0:
        with gallra.session() as session:
            record(
                session,
                actor=who.actor,
                action="play" if playable else "download",
                at=gallra.clock.now(),
                item_id=item_id,
            )
    if not gallra.blobs.exists(item.blob_key):
        raise NotFound(f"item {item_id}: its stored copy is missing (see `gallra doctor`)")
    byte_range = wanted or (0, item.size - 1)

    def chunks() -> Iterator[bytes]:
        if item.size == 0:
            return
        with open_for_item(gallra.blobs, item_id, item.blob_key) as stream:
            yield from read_range(stream, byte_range, _CHUNK)

    name = item.title or f"item-{item_id}"
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(byte_range[1] - byte_range[0] + 1 if item.size else 0),
        "Content-Disposition": content_disposition("inline" if playable else "attachment", name),
    }
    if wanted is not None:
        headers["Content-Range"] = f"bytes {wanted[0]}-{wanted[1]}/{item.size}"
    return StreamingResponse(
        chunks(),
        status_code=206 if wanted is not None else 200,
        media_type=item.mime_type if playable else "application/octet-stream",
        headers=headers,
    )


_ASCII = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "ß": "ss"})


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII))
    plain = folded.encode("ascii", "ignore").decode("ascii")
    return "".join(c if c.isalnum() or c in "-" else "_" for c in plain).strip("_")


def content_disposition(disposition: str, name: str) -> str:
    """RFC 6266: an ASCII fallback name and the real one as UTF-8 (`filename*`)."""
    cleaned = "".join(c for c in name if c.isprintable() and c not in '/\\"')[:150] or "item"
    path = Path(cleaned)
    fallback = (_ascii(path.stem) or "item") + "".join(
        c for c in path.suffix if c.isascii() and (c.isalnum() or c == ".")
    )
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


@router.get("/unassigned", response_class=HTMLResponse)
def unassigned(request: Request, who: Logged) -> Response:
    """Items tied to nobody: they go after three months unless assigned."""
    gallra = gallra_of(request)
    with gallra.session() as session:
        items = unassigned_items(session, newest_first=True, limit=200)
        choices = subject_choices(session)
        record(
            session,
            actor=who.actor,
            action="view-unassigned",
            at=gallra.clock.now(),
            detail={"items": len(items)},
        )
    return render(request, "unassigned.html", who, items=items, choices=choices)


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, who: Logged) -> Response:
    """The newest audit events (ids and actions, no content)."""
    gallra = gallra_of(request)
    with gallra.session() as session:
        events = audit_events(session, limit=200)
    return render(request, "audit.html", who, events=events)

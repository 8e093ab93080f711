"""The actions (POST): holds, requests, agreements, assignment, export and erasure.

Each checks the session and its CSRF token, runs the same plain function the
CLI runs, writes an audit event and redirects (post/redirect/get) with a
fixed notice key.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from gallra import rights
from gallra.coach import assign_item, finish_engagement
from gallra.web.pages import gallra_of, render, viewer
from gallra.web.security import Viewer, check_csrf
from models.enums import HoldKind, RequestRight
from models.errors import InvalidInput
from storage.audit import record
from storage.holds import add_hold, lift_hold
from storage.requests import open_request

__all__ = ["router"]

router = APIRouter()


async def _checked(request: Request) -> tuple[Viewer, FormData]:
    who = viewer(request)
    form = await request.form()
    check_csrf(form, who.csrf_token)
    return who, form


def _text(form: FormData, name: str, *, required: bool = True) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise InvalidInput(f"{name}: required")
    return text


def _int(form: FormData, name: str) -> int:
    try:
        return int(_text(form, name))
    except ValueError:
        raise InvalidInput(f"{name}: expected a number") from None


def _day(form: FormData, name: str, *, required: bool = True) -> date | None:
    text = _text(form, name, required=required)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name}: expected a date as YYYY-MM-DD") from None


def _audit(request: Request, who: Viewer, action: str, **ids: Any) -> None:
    gallra = gallra_of(request)
    detail = ids.pop("detail", None)
    with gallra.session() as session:
        record(session, actor=who.actor, action=action, at=gallra.clock.now(), detail=detail, **ids)


def _back(path: str, done: str) -> Response:
    return RedirectResponse(f"{path}?done={done}", status_code=303)


def _hold_kind(form: FormData) -> HoldKind:
    kind = _text(form, "kind")
    if kind not in (HoldKind.LEGAL_HOLD.value, HoldKind.RESTRICTION.value):
        raise InvalidInput("kind: legal_hold or restriction")
    return HoldKind(kind)


async def _place_hold(
    request: Request, *, subject_id: int | None = None, item_id: int | None = None
) -> None:
    who, form = await _checked(request)
    gallra = gallra_of(request)
    with gallra.session() as session:
        hold = add_hold(
            session,
            kind=_hold_kind(form),
            reason=_text(form, "reason"),
            subject_id=subject_id,
            item_id=item_id,
            review_on=_day(form, "review_on", required=False),
        )
    _audit(
        request, who, "hold-add", subject_id=subject_id, item_id=item_id,
        detail={"hold_id": hold.id},
    )  # fmt: skip


@router.post("/subjects/{subject_id}/holds")
async def subject_hold(request: Request, subject_id: int) -> Response:
    """Freeze everything of a person."""
    await _place_hold(request, subject_id=subject_id)
    return _back(f"/subjects/{subject_id}", "hold")


@router.post("/items/{item_id}/holds")
async def item_hold(request: Request, item_id: int) -> Response:
    """Freeze one item."""
    await _place_hold(request, item_id=item_id)
    return _back(f"/items/{item_id}", "hold")


@router.post("/holds/{hold_id}/lift")
async def hold_lift(request: Request, hold_id: int) -> Response:
    """Lift a hold; the next sweep deletes what expired meanwhile."""
    who, _ = await _checked(request)
    gallra = gallra_of(request)
    with gallra.session() as session:
        hold = lift_hold(session, hold_id=hold_id, at=gallra.clock.now())
    _audit(
        request,
        who,
        "hold-lift",
        subject_id=hold.subject_id,
        item_id=hold.item_id,
        detail={"hold_id": hold_id},
    )
    back = f"/subjects/{hold.subject_id}" if hold.subject_id else f"/items/{hold.item_id}"
    return _back(back, "lifted")


@router.post("/subjects/{subject_id}/requests")
async def request_open(request: Request, subject_id: int) -> Response:
    """Record a data-subject request with its one-month deadline."""
    who, form = await _checked(request)
    gallra = gallra_of(request)
    right = _text(form, "right")
    if right not in {r.value for r in RequestRight}:
        raise InvalidInput("right: not a data-subject right")
    received = _day(form, "received_on", required=False) or gallra.today
    with gallra.session() as session:
        opened = open_request(
            session, subject_id=subject_id, right=RequestRight(right), received_on=received
        )
    _audit(
        request,
        who,
        "request-open",
        subject_id=subject_id,
        detail={"request_id": opened.id, "right": right},
    )
    return _back(f"/subjects/{subject_id}", "request")


@router.post("/engagements/{engagement_id}/end")
async def engagement_end(request: Request, engagement_id: int) -> Response:
    """End an agreement on a date; its people's items get their post-contract expiry."""
    who, form = await _checked(request)
    gallra = gallra_of(request)
    ends_on = _day(form, "ends_on")
    assert ends_on is not None
    done = finish_engagement(gallra, engagement_id=engagement_id, ends_on=ends_on)
    subject_id = _int(form, "subject_id")
    _audit(
        request,
        who,
        "engagement-end",
        subject_id=subject_id,
        detail={"engagement_id": engagement_id, "restamped": done.items_restamped},
    )
    return _back(f"/subjects/{subject_id}", "ended")


@router.post("/items/{item_id}/assign")
async def item_assign(request: Request, item_id: int) -> Response:
    """Tie an unassigned item to a person."""
    who, form = await _checked(request)
    subject_id = _int(form, "subject_id")
    assign_item(gallra_of(request), item_id=item_id, subject_id=subject_id)
    _audit(request, who, "assign", item_id=item_id, subject_id=subject_id)
    return _back(f"/items/{item_id}", "assigned")


@router.post("/subjects/{subject_id}/export")
async def export(request: Request, subject_id: int) -> Response:
    """Build the access export; it is stored as an item to download and kept 30 days."""
    who, form = await _checked(request)
    gallra = gallra_of(request)
    portable = form.get("portable") == "1"
    # The bundle is built in a private folder under GALLRA_HOME, never the shared /tmp.
    work = gallra.settings.home / "work"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as folder:
        result = rights.export(
            gallra, subject_id=subject_id, out=Path(folder) / "export.zip", portable_only=portable
        )
    _audit(
        request,
        who,
        "export",
        subject_id=subject_id,
        item_id=result.export_item_id,
        detail={"items": result.items, "portable": portable},
    )
    return _back(f"/subjects/{subject_id}", "exported")


@router.post("/subjects/{subject_id}/erase")
async def erase(request: Request, subject_id: int) -> Response:
    """Erase after the dry run: the form must carry the subject id typed again."""
    who, form = await _checked(request)
    if _text(form, "confirm", required=False) != str(subject_id):
        raise InvalidInput("confirm: type the person's number to confirm the erasure")
    gallra = gallra_of(request)
    cert = rights.erase(gallra, subject_id=subject_id)
    _audit(
        request,
        who,
        "erase",
        subject_id=subject_id,
        detail={"deleted": len(cert.deleted), "kept": len(cert.kept), "request": cert.request_id},
    )
    return render(request, "erased.html", who, cert=cert)

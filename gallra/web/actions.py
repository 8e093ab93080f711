"""The actions (POST): holds, requests, agreements, assignment, export and erasure.

Each checks the session and its CSRF token, runs the same plain function the
CLI runs, writes an audit event and redirects (post/redirect/get) with a
fixed notice key.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from gallra import rights
from gallra.coach import assign_item, finish_engagement
from gallra.web.forms import audit, back, checked, day, number, text
from gallra.web.pages import gallra_of, render
from models.enums import HoldKind, RequestRight
from models.errors import InvalidInput
from storage.holds import add_hold, lift_hold
from storage.requests import open_request
from storage.temporaries import owned_name

__all__ = ["router"]

router = APIRouter()


def _hold_kind(form: FormData) -> HoldKind:
    kind = text(form, "kind")
    if kind not in (HoldKind.LEGAL_HOLD.value, HoldKind.RESTRICTION.value):
        raise InvalidInput("kind: legal_hold or restriction")
    return HoldKind(kind)


async def _place_hold(
    request: Request, *, subject_id: int | None = None, item_id: int | None = None
) -> None:
    who, form = await checked(request)
    gallra = gallra_of(request)
    with gallra.session() as session:
        hold = add_hold(
            session,
            kind=_hold_kind(form),
            reason=text(form, "reason"),
            subject_id=subject_id,
            item_id=item_id,
            review_on=day(form, "review_on", required=False),
        )
    audit(
        request, who, "hold-add", subject_id=subject_id, item_id=item_id,
        detail={"hold_id": hold.id},
    )  # fmt: skip


@router.post("/subjects/{subject_id}/holds")
async def subject_hold(request: Request, subject_id: int) -> Response:
    """Freeze everything of a person."""
    await _place_hold(request, subject_id=subject_id)
    return back(f"/subjects/{subject_id}", "hold")


@router.post("/items/{item_id}/holds")
async def item_hold(request: Request, item_id: int) -> Response:
    """Freeze one item."""
    await _place_hold(request, item_id=item_id)
    return back(f"/items/{item_id}", "hold")


@router.post("/holds/{hold_id}/lift")
async def hold_lift(request: Request, hold_id: int) -> Response:
    """Lift a hold; the next sweep deletes what expired meanwhile."""
    who, _ = await checked(request)
    gallra = gallra_of(request)
    with gallra.session() as session:
        hold = lift_hold(session, hold_id=hold_id, at=gallra.clock.now())
    audit(
        request,
        who,
        "hold-lift",
        subject_id=hold.subject_id,
        item_id=hold.item_id,
        detail={"hold_id": hold_id},
    )
    where = f"/subjects/{hold.subject_id}" if hold.subject_id else f"/items/{hold.item_id}"
    return back(where, "lifted")


@router.post("/subjects/{subject_id}/requests")
async def request_open(request: Request, subject_id: int) -> Response:
    """Record a data-subject request with its one-month deadline."""
    who, form = await checked(request)
    gallra = gallra_of(request)
    right = text(form, "right")
    if right not in {r.value for r in RequestRight}:
        raise InvalidInput("right: not a data-subject right")
    received = day(form, "received_on", required=False) or gallra.today
    with gallra.session() as session:
        opened = open_request(
            session, subject_id=subject_id, right=RequestRight(right), received_on=received
        )
    audit(
        request,
        who,
        "request-open",
        subject_id=subject_id,
        detail={"request_id": opened.id, "right": right},
    )
    return back(f"/subjects/{subject_id}", "request")


@router.post("/engagements/{engagement_id}/end")
async def engagement_end(request: Request, engagement_id: int) -> Response:
    """End an agreement on a date; its people's items get their post-contract expiry."""
    who, form = await checked(request)
    gallra = gallra_of(request)
    ends_on = day(form, "ends_on")
    assert ends_on is not None
    done = finish_engagement(gallra, engagement_id=engagement_id, ends_on=ends_on)
    subject_id = number(form, "subject_id")
    audit(
        request,
        who,
        "engagement-end",
        subject_id=subject_id,
        detail={"engagement_id": engagement_id, "restamped": done.items_restamped},
    )
    return back(f"/subjects/{subject_id}", "ended")


@router.post("/items/{item_id}/assign")
async def item_assign(request: Request, item_id: int) -> Response:
    """Tie an unassigned item to a person."""
    who, form = await checked(request)
    subject_id = number(form, "subject_id")
    assign_item(gallra_of(request), item_id=item_id, subject_id=subject_id)
    audit(request, who, "assign", item_id=item_id, subject_id=subject_id)
    return back(f"/items/{item_id}", "assigned")


@router.post("/subjects/{subject_id}/export")
async def export(request: Request, subject_id: int) -> Response:
    """Build the access export; it is stored as an item to download and kept 30 days."""
    who, form = await checked(request)
    gallra = gallra_of(request)
    portable = form.get("portable") == "1"
    # The bundle is built in a private folder under GALLRA_HOME, never the shared /tmp.
    work = gallra.settings.home / "work"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix=owned_name() + "-") as folder:
        result = rights.export(
            gallra, subject_id=subject_id, out=Path(folder) / "export.zip", portable_only=portable
        )
    audit(
        request,
        who,
        "export",
        subject_id=subject_id,
        item_id=result.export_item_id,
        detail={"items": result.items, "portable": portable},
    )
    return back(f"/subjects/{subject_id}", "exported")


@router.post("/subjects/{subject_id}/erase")
async def erase(request: Request, subject_id: int) -> Response:
    """Erase after the dry run: the form must carry the subject id typed again."""
    who, form = await checked(request)
    if text(form, "confirm", required=False) != str(subject_id):
        raise InvalidInput("confirm: type the person's number to confirm the erasure")
    gallra = gallra_of(request)
    cert = rights.erase(gallra, subject_id=subject_id)
    audit(
        request,
        who,
        "erase",
        subject_id=subject_id,
        detail={"deleted": len(cert.deleted), "kept": len(cert.kept), "request": cert.request_id},
    )
    return render(request, "erased.html", who, cert=cert)

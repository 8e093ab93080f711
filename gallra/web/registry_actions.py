"""The coach's registry actions (POST): people, corrections, agreements, consents, objections,
requests and her language.

Each runs the plain function the CLI runs (gallra.coach, gallra.rights,
storage.requests), is audited by ids only, and redirects with a notice key.
Those that delete (a withdrawn consent, an objection) need a ticked box.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import select
from starlette.datastructures import FormData
from starlette.responses import Response

from gallra import rights
from gallra.coach import Correction, begin_engagement, link_party, rectify, register_person
from gallra.errors import NotFound
from gallra.i18n import LANGUAGES
from gallra.web.forms import audit, back, checked, day, lines, number, text
from gallra.web.pages import gallra_of, render_subject
from gallra.web.views import PARTY_ROLES
from models.enums import IdentifierKind, Role
from models.errors import InvalidInput
from models.personnummer import parse_personnummer
from models.tables import Identifier, Subject, WebUser
from storage.requests import close_request, extend_request

__all__ = ["router"]

router = APIRouter()


@router.post("/people")
async def person_register(request: Request) -> Response:
    """Register a person (the personnummer checked as the CLI does, kept as a keyed hash)."""
    who, form = await checked(request)
    done = register_person(
        gallra_of(request),
        name=text(form, "name"),
        emails=lines(form, "emails"),
        phones=lines(form, "phones"),
        roles=(text(form, "role", required=False) or Role.PROSPECT.value,),
        personnummer=text(form, "personnummer", required=False) or None,
    )
    audit(request, who, "subject-add", subject_id=done.subject_id)
    return back(f"/subjects/{done.subject_id}", "registered")


@router.post("/subjects/{subject_id}/rectify")
async def person_rectify(request: Request, subject_id: int) -> Response:
    """Correct or complete a person (art. 16): recorded as a closed rectification request."""
    who, form = await checked(request)
    gallra = gallra_of(request)
    with gallra.session() as session:
        person = session.get(Subject, subject_id)
        if person is None:
            raise NotFound(f"subject {subject_id}: no such subject")
        current_name = person.display_name
    name = text(form, "name", required=False)
    correction = Correction(
        name=name if name and name != current_name else None,
        add_emails=lines(form, "add_email"),
        remove_emails=lines(form, "remove_email"),
        add_phones=lines(form, "add_phone"),
        personnummer=text(form, "personnummer", required=False) or None,
    )
    done = rectify(gallra, subject_id=subject_id, correction=correction)
    audit(
        request,
        who,
        "rectify",
        subject_id=subject_id,
        detail={"changed": done.changed, "request_id": done.request_id},
    )
    return back(f"/subjects/{subject_id}", "corrected")


@router.post("/subjects/{subject_id}/agreements")
async def agreement_start(request: Request, subject_id: int) -> Response:
    """Start an agreement (after its confirmation page)."""
    who, form = await checked(request)
    starts_on = day(form, "starts_on")
    assert starts_on is not None
    started = begin_engagement(gallra_of(request), subject_id=subject_id, starts_on=starts_on)
    audit(
        request,
        who,
        "engagement-start",
        subject_id=subject_id,
        detail={"engagement_id": started.engagement_id, "restamped": started.items_restamped},
    )
    return back(f"/subjects/{subject_id}", "started")


@router.post("/engagements/{engagement_id}/parties")
async def agreement_party(request: Request, engagement_id: int) -> Response:
    """Link a payer or contact to an agreement."""
    who, form = await checked(request)
    subject_id = number(form, "subject_id")
    role = text(form, "role")
    if role not in PARTY_ROLES:
        raise InvalidInput("role: payer, guardian, trustee, attorney or company contact")
    changed = link_party(
        gallra_of(request), engagement_id=engagement_id, subject_id=subject_id, role=role
    )
    audit(
        request,
        who,
        "engagement-party",
        subject_id=subject_id,
        detail={"engagement_id": engagement_id, "restamped": changed},
    )
    return back(f"/subjects/{number(form, 'client_id')}", "party")


@router.post("/subjects/{subject_id}/consent")
async def consent(request: Request, subject_id: int) -> Response:
    """Record a consent, or withdraw it (a ticked box first: what rested on it alone goes)."""
    who, form = await checked(request)
    given = text(form, "given") == "1"
    if not given and text(form, "confirm", required=False) != "1":
        raise InvalidInput("confirm: tick the box to withdraw the consent")
    changed = rights.set_consent(
        gallra_of(request), subject_id=subject_id, purpose=text(form, "purpose"), given=given
    )
    audit(
        request,
        who,
        "consent-give" if given else "consent-withdraw",
        subject_id=subject_id,
        detail={"deleted": changed.deleted},
    )
    return back(f"/subjects/{subject_id}", "consent" if given else "withdrawn")


@router.post("/subjects/{subject_id}/object")
async def objection(request: Request, subject_id: int) -> Response:
    """Record an objection to direct marketing (a ticked box first)."""
    who, form = await checked(request)
    if text(form, "confirm", required=False) != "1":
        raise InvalidInput("confirm: tick the box to record the objection")
    done = rights.object_to_marketing(gallra_of(request), subject_id=subject_id)
    audit(request, who, "object", subject_id=subject_id, detail={"deleted": done.deleted})
    return back(f"/subjects/{subject_id}", "objected")


@router.post("/subjects/{subject_id}/check-personnummer")
async def check_personnummer(request: Request, subject_id: int) -> Response:
    """Whether a typed personnummer is this person's (only its keyed hash is held); audited."""
    who, form = await checked(request)
    gallra = gallra_of(request)
    number_ = parse_personnummer(text(form, "personnummer"), today=gallra.today)
    with gallra.session() as session:
        held = set(
            session.exec(
                select(Identifier.value).where(
                    Identifier.subject_id == subject_id,
                    Identifier.kind == IdentifierKind.PERSONNUMMER.value,
                )
            )
        )
    matches = number_.keyed_hash(gallra.hash_key) in held
    return render_subject(
        request,
        who,
        subject_id,
        action="check-personnummer",
        checked=matches,
        detail={"matches": matches},
    )


@router.post("/requests/{request_id}/extend")
async def request_extend(request: Request, request_id: int) -> Response:
    """Extend a request's deadline once, by two months, with the reason the person is told."""
    who, form = await checked(request)
    gallra = gallra_of(request)
    with gallra.session() as session:
        extended = extend_request(session, request_id=request_id, reason=text(form, "reason"))
        subject_id = extended.subject_id
    audit(request, who, "request-extend", subject_id=subject_id, detail={"request_id": request_id})
    return back(_where(form), "extended")


@router.post("/requests/{request_id}/close")
async def request_finish(request: Request, request_id: int) -> Response:
    """Close a request as answered or refused (the outcome, no content)."""
    who, form = await checked(request)
    outcome = text(form, "outcome")
    if outcome not in ("done", "refused"):
        raise InvalidInput("outcome: answered or refused")
    gallra = gallra_of(request)
    with gallra.session() as session:
        closed = close_request(
            session,
            request_id=request_id,
            outcome=json.dumps({"closed_by": "web", "outcome": outcome}),
            at=gallra.clock.now(),
            refused=outcome == "refused",
        )
        subject_id = closed.subject_id
    audit(request, who, "request-close", subject_id=subject_id, detail={"request_id": request_id})
    return back(_where(form), "closed")


def _where(form: FormData) -> str:
    """Back to the page the form was on (one of ours only), else the request list."""
    path = text(form, "back", required=False)
    ours = path == "/" or path == "/requests" or path.startswith("/subjects/")
    return path if (ours and path.replace("/", "").isalnum()) or path == "/" else "/requests"


@router.post("/language")
async def language(request: Request) -> Response:
    """Set the viewer's own language (Swedish or English)."""
    who, form = await checked(request)
    chosen = text(form, "language")
    if chosen not in LANGUAGES:
        raise InvalidInput("language: sv or en")
    gallra = gallra_of(request)
    with gallra.session() as session:
        user = session.get(WebUser, who.user_id)
        if user is not None:
            user.language = chosen
            session.add(user)
    audit(request, who, "language", detail={"language": chosen})
    return RedirectResponse("/?done=language", status_code=303)

"""People and requests as lists (GET): everyone with their roles, every open request."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, func, select
from starlette.responses import Response

from gallra.coach import preview_engagement_end, preview_engagement_start
from gallra.overview import dominant_person, request_rows
from gallra.web.forms import parse_day
from gallra.web.pages import Logged, gallra_of, render
from models.enums import ItemState, Role
from models.errors import InvalidInput
from models.tables import Engagement, Item, ItemSubject, Subject
from storage.audit import record
from storage.health import index_health

__all__ = ["router"]

router = APIRouter()


@router.get("/people", response_class=HTMLResponse)
def people(request: Request, who: Logged) -> Response:
    """Everyone held, by name, with their live items; and the form to register a person."""
    gallra = gallra_of(request)
    with gallra.session() as session:
        counts = dict(
            session.exec(
                select(ItemSubject.subject_id, func.count())
                .join(Item, col(Item.id) == col(ItemSubject.item_id))
                .where(Item.state == ItemState.LIVE.value)
                .group_by(col(ItemSubject.subject_id))
            ).all()
        )
        listed = [
            (s, counts.get(s.id or 0, 0))
            for s in session.exec(select(Subject).order_by(col(Subject.display_name)))
        ]
        record(session, actor=who.actor, action="view-people", at=gallra.clock.now())
    return render(request, "people.html", who, people=listed, roles=[r.value for r in Role])


@router.get("/problems", response_class=HTMLResponse)
def problems(request: Request, who: Logged) -> Response:
    """What `gallra doctor` lists from the index: items not read in full, messages a server
    would not deliver, deletions left unfinished, and a person on most of the mail."""
    gallra = gallra_of(request)
    with gallra.session() as session:
        health = index_health(session)
        dominant = dominant_person(session)
        record(session, actor=who.actor, action="view-problems", at=gallra.clock.now())
    return render(request, "problems.html", who, health=health, dominant=dominant)


@router.get("/requests", response_class=HTMLResponse)
def requests(request: Request, who: Logged) -> Response:
    """Every open request, soonest deadline first (the rows of `gallra requests`)."""
    gallra = gallra_of(request)
    with gallra.session() as session:
        rows = request_rows(session, gallra.today)
        record(session, actor=who.actor, action="view-requests", at=gallra.clock.now())
    return render(request, "requests.html", who, rows=rows)


@router.get("/subjects/{subject_id}/agreements/new", response_class=HTMLResponse)
def agreement_start_confirm(
    request: Request, who: Logged, subject_id: int, starts_on: str = ""
) -> Response:
    """What starting an agreement does to the dates, before it is done."""
    gallra = gallra_of(request)
    when = parse_day(starts_on, "starts_on")
    after = preview_engagement_start(gallra, subject_id=subject_id, starts_on=when)
    return render(
        request,
        "agreement.html",
        who,
        ending=False,
        when=when,
        after=after,
        subject_id=subject_id,
        action=f"/subjects/{subject_id}/agreements",
    )


@router.get("/engagements/{engagement_id}/end", response_class=HTMLResponse)
def agreement_end_confirm(
    request: Request, who: Logged, engagement_id: int, ends_on: str = "", subject_id: int = 0
) -> Response:
    """What ending an agreement does to its people's dates, before it is done."""
    gallra = gallra_of(request)
    when = parse_day(ends_on, "ends_on")
    with gallra.session() as session:
        engagement = session.get(Engagement, engagement_id)
        if engagement is None:
            raise InvalidInput(f"agreement {engagement_id}: no such agreement")
        client = engagement.client_id
    after = preview_engagement_end(gallra, engagement_id=engagement_id, ends_on=when)
    return render(
        request,
        "agreement.html",
        who,
        ending=True,
        when=when,
        after=after,
        subject_id=subject_id or client,
        action=f"/engagements/{engagement_id}/end",
    )

"""The start page (`/`): what needs the coach today, from gallra.overview (as `gallra today`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from gallra.overview import overview
from gallra.web.pages import Logged, gallra_of, render
from storage.audit import record

__all__ = ["router"]

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def start(request: Request, who: Logged) -> Response:
    """Requests by deadline, deletions ahead per person, the queue and last night's run."""
    gallra = gallra_of(request)
    facts = overview(gallra)
    with gallra.session() as session:
        record(session, actor=who.actor, action="view-today", at=gallra.clock.now())
    return render(request, "start.html", who, facts=facts)

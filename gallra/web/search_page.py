"""The search page. Words travel only in a POST body, never in a URL.

A URL ends up in browser history, in a proxy's access log and in the
Referer of whatever is opened next; the words a coach searches for are
often a client's name or a diagnosis. Filters (ids, kinds, dates) may be
in the URL: `GET /?subject=12` lists a person's items without any words.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from gallra.web.forms import parse_day
from gallra.web.pages import Logged, gallra_of, render, viewer
from gallra.web.security import Viewer, check_csrf
from gallra.web.views import find_people
from models.enums import ItemKind, LegalBasis
from models.errors import InvalidInput
from models.tables import Subject
from storage.audit import record
from storage.search import CANDIDATES, SearchFilters, search, terms_of

__all__ = ["router"]

router = APIRouter()
PER_PAGE = 20


def _number(value: str, name: str) -> int | None:
    """An optional whole number from a form field (browsers send empty fields as '')."""
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput(f"{name}: expected a whole number")
    return int(value)


def _days(value: str) -> int | None:
    """Days ahead for "expiring within": at most a century."""
    days = _number(value, "expiring")
    if days is not None and days > 36_500:
        raise InvalidInput("expiring: expected a whole number")
    return days


def _date(value: str, name: str) -> date | None:
    return parse_day(value, name) if value.strip() else None


def _form_values(source: Any) -> dict[str, Any]:
    """The search fields of a query string or a form, as strings (kinds as a list)."""

    def one(name: str) -> str:
        value = source.get(name)
        return value if isinstance(value, str) else ""

    return {
        "q": one("q"),
        "subject": one("subject"),
        "kinds": [k for k in source.getlist("kind") if k in {x.value for x in ItemKind}],
        "from": one("from"),
        "to": one("to"),
        "basis": one("basis") if one("basis") in {b.value for b in LegalBasis} else "",
        "special": one("special") if one("special") in ("yes", "no") else "",
        "expiring": one("expiring"),
        "page": one("page"),
    }


def _filters(form: Mapping[str, Any]) -> SearchFilters:
    return SearchFilters(
        subject_id=_number(form["subject"], "subject"),
        kinds=tuple(form["kinds"]),
        received_from=_date(form["from"], "from"),
        received_to=_date(form["to"], "to"),
        legal_basis=form["basis"] or None,
        special_category={"yes": True, "no": False}.get(form["special"]),
        expiring_within_days=_days(form["expiring"]),
    )


def _results(request: Request, who: Viewer, form: dict[str, Any], *, action: str) -> Response:
    gallra = gallra_of(request)
    filters = _filters(form)
    page = min(max(_number(form["page"], "page") or 1, 1), 1000)
    with gallra.session() as session:
        results = search(
            session,
            form["q"],
            filters=filters,
            today=gallra.today,
            limit=PER_PAGE,
            offset=(page - 1) * PER_PAGE,
        )
        people = find_people(session, terms_of(form["q"])) if page == 1 else []
        person = session.get(Subject, filters.subject_id) if filters.subject_id else None
        record(
            session,
            actor=who.actor,
            action=action,
            at=gallra.clock.now(),
            subject_id=filters.subject_id,
            detail={"results": len(results.hits), "page": page, "words": bool(form["q"])},
        )
    return render(
        request,
        "search.html",
        who,
        q=form["q"],
        form=form,
        results=results,
        people=people,
        person=person,
        page=page,
        filtered=any(form[k] for k in ("subject", "kinds", "from", "to", "basis", "special"))
        or bool(form["expiring"]),
        kinds=[k.value for k in ItemKind],
        bases=[b.value for b in LegalBasis],
        candidates=CANDIDATES,
    )


@router.get("/search", response_class=HTMLResponse)
def browse(request: Request, who: Logged) -> Response:
    """The search form and the newest items (filters may come in the URL; words never do)."""
    form = _form_values(request.query_params)
    form["q"] = ""
    return _results(request, who, form, action="browse")


@router.post("/search", response_class=HTMLResponse)
async def search_words(request: Request) -> Response:
    """Search by words (and filters) posted from the form."""
    who = viewer(request)
    posted = await request.form()
    check_csrf(posted, who.csrf_token)
    return _results(request, who, _form_values(posted), action="search")

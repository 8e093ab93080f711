"""Reading posted forms: the session and CSRF check, fields by name, the audit and redirect.

Refusals name the field, never echo its value.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from gallra.web.pages import gallra_of, viewer
from gallra.web.security import Viewer, check_csrf
from models.errors import InvalidInput
from storage.audit import record

__all__ = ["audit", "back", "checked", "day", "lines", "number", "parse_day", "text"]


async def checked(request: Request) -> tuple[Viewer, FormData]:
    """The logged-in viewer and their form, once its CSRF token is checked."""
    who = viewer(request)
    form = await request.form()
    check_csrf(form, who.csrf_token)
    return who, form


def text(form: FormData, name: str, *, required: bool = True) -> str:
    """A field's text, stripped; InvalidInput naming it when required and empty."""
    value = form.get(name)
    found = value.strip() if isinstance(value, str) else ""
    if required and not found:
        raise InvalidInput(f"{name}: required")
    return found


def lines(form: FormData, name: str) -> tuple[str, ...]:
    """A field's non-empty lines (a list of addresses, one per line)."""
    return tuple(
        line.strip() for line in text(form, name, required=False).splitlines() if line.strip()
    )


def number(form: FormData, name: str) -> int:
    """A field's whole number."""
    found = text(form, name)
    if not found.isdigit() or len(found) > 9:
        raise InvalidInput(f"{name}: expected a number")
    return int(found)


def day(form: FormData, name: str, *, required: bool = True) -> date | None:
    """A field's date, YYYY-MM-DD."""
    found = text(form, name, required=required)
    return parse_day(found, name) if found else None


def parse_day(value: str, name: str) -> date:
    """A date typed as YYYY-MM-DD, between 1900 and 2200 (retention maths adds years)."""
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{name}: expected a date as YYYY-MM-DD") from None
    if not 1900 <= parsed.year <= 2200:
        raise InvalidInput(f"{name}: expected a date as YYYY-MM-DD")
    return parsed


def audit(request: Request, who: Viewer, action: str, **ids: Any) -> None:
    """Write what the viewer did to the audit trail (ids and counts only)."""
    gallra = gallra_of(request)
    detail = ids.pop("detail", None)
    with gallra.session() as session:
        record(session, actor=who.actor, action=action, at=gallra.clock.now(), detail=detail, **ids)


def back(path: str, done: str) -> Response:
    """Post/redirect/get, with a fixed notice key."""
    return RedirectResponse(f"{path}?done={done}", status_code=303)

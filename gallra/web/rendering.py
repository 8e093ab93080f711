"""Writing a page in the reader's language: their own setting, else their browser's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from gallra.i18n import N_, choose_language, using

if TYPE_CHECKING:
    from gallra.web.security import Viewer
    from gallra.wiring import App

__all__ = ["NOTICES", "language_of", "render_page"]

# Fixed messages after an action: the URL carries a key, never content.
NOTICES = {
    "hold": N_("Hold placed: nothing of this is deleted until it is lifted."),
    "lifted": N_("Hold lifted."),
    "request": N_("Request recorded. The deadline is shown below."),
    "started": N_("Agreement started; expiry dates were recomputed."),
    "ended": N_("Agreement ended; expiry dates were recomputed."),
    "party": N_("Linked to the agreement; expiry dates were recomputed."),
    "assigned": N_("Item assigned; its expiry date now follows that person."),
    "exported": N_("Export ready: download it below and hand it to the person."),
    "registered": N_("Person registered."),
    "corrected": N_("Corrected, and recorded as a rectification."),
    "consent": N_("Consent recorded."),
    "withdrawn": N_("Consent withdrawn; what rested on it alone was deleted."),
    "objected": N_("Objection recorded: no more marketing to this person."),
    "extended": N_("Deadline extended by two months. Tell the person why."),
    "closed": N_("Request closed."),
    "language": N_("Language changed."),
}


def language_of(request: Request, who: Viewer | None) -> str:
    """The viewer's own language, else the browser's first one we speak, else Swedish."""
    return choose_language(who.language if who else None, request.headers.get("accept-language"))


def render_page(
    request: Request,
    name: str,
    *,
    who: Viewer | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A page in the reader's language, with the viewer's CSRF token in reach of every form."""
    templates: Jinja2Templates = request.app.state.templates
    gallra: App = request.app.state.gallra
    lang = language_of(request, who)
    restore = using(lang, gallra.today)
    try:
        from gallra.i18n import current

        notice_key = NOTICES.get(request.query_params.get("done", ""))
        return templates.TemplateResponse(
            request,
            name,
            {
                "viewer": who,
                "csrf": who.csrf_token if who else context.pop("csrf", ""),
                "notice": current().gettext(notice_key) if notice_key else None,
                "lang": lang,
                "today": gallra.today,
                **context,
            },
            status_code=status_code,
        )
    finally:
        restore()

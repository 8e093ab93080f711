"""The FastAPI application: login, error handling, headers; pages and actions are routers.

Every route but /login and the stylesheet needs a session; every form needs
the session's CSRF token. Errors show a calm page naming what was wrong and
never echo content back.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.responses import Response

from gallra.errors import NotFound
from gallra.i18n import N_, current, texts
from gallra.settings import WebSettings
from gallra.templating import speaking_environment
from gallra.web import actions, pages, people_pages, registry_actions, search_page, start_page
from gallra.web.login import add_login
from gallra.web.problem_text import translate_problem
from gallra.web.rendering import language_of, render_page
from gallra.web.security import (
    Forbidden,
    LoginRequired,
    security_headers,
)
from gallra.wiring import App
from models.errors import GallraError
from models.retention import last_day_kept
from storage.search import HIT_END, HIT_START

__all__ = ["create_app"]

_HERE = Path(__file__).parent
_log = logging.getLogger("gallra.web")


def _highlight(snippet: str) -> Markup:
    """Escape a snippet, then mark its hits."""
    text = str(escape(snippet))
    return Markup(text.replace(HIT_START, "<mark>").replace(HIT_END, "</mark>"))


def _kept_day(expires_at: datetime | date | str | None) -> str:
    """The last day kept (from an expiry instant, a date or an ISO date), or "" for none."""
    if expires_at is None or expires_at == "":
        return ""
    if isinstance(expires_at, str):
        return current().day(date.fromisoformat(expires_at))
    if isinstance(expires_at, datetime):
        last = last_day_kept(expires_at)
        return current().day(last) if last else ""
    return current().day(expires_at)


def _kept(expires_at: datetime | None) -> str:
    """ "kept until 18 nov. 2026", or "kept while an agreement runs"."""
    texts = current()
    if expires_at is None:
        return texts.gettext("kept while an agreement runs")
    return texts.gettext("kept until %(day)s", day=_kept_day(expires_at))


def _why(why: str) -> str:
    """Why an erasure keeps an item, in the reader's language."""
    texts = current()
    prefix = "a legal obligation ("
    if why.startswith(prefix) and why.endswith(")"):
        return texts.gettext("a legal obligation (%(law)s)", law=why[len(prefix) : -1])
    return texts.gettext(why)


def _step_name(step: str) -> str:
    """A nightly step's name: "Mail: practice", "Recordings", "Deletion"..."""
    texts = current()
    if step.startswith("mail:"):
        return texts.gettext("Mail: %(source)s", source=step[5:])
    names = {
        "recordings": N_("Recordings"),
        "sweep": N_("Deletion of what is due"),
        "backup": N_("Backup of the index"),
        "prune history": N_("Clearing old run history"),
        "digest": N_("E-mail to the practice"),
    }
    return texts.gettext(names[step]) if step in names else step


def templates_for(directory: Path) -> Jinja2Templates:
    """Templates that speak the language current for the page being written."""
    env = speaking_environment(directory)
    env.filters["highlight"] = _highlight
    env.filters["moment"] = lambda at: current().moment(at)
    env.filters["kept"] = _kept
    env.filters["kept_day"] = _kept_day
    env.filters["why"] = _why
    env.globals["size"] = lambda n: current().size(n)
    env.globals["step_name"] = _step_name
    return Jinja2Templates(env=env)


def create_app(gallra: App) -> FastAPI:
    """The web app over one configured gallra."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="gallra")
    templates = templates_for(_HERE / "templates")
    app.state.gallra = gallra
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    app.include_router(start_page.router)
    app.include_router(search_page.router)
    app.include_router(pages.router)
    app.include_router(people_pages.router)
    app.include_router(actions.router)
    app.include_router(registry_actions.router)
    _add_guard(app)
    _add_error_pages(app)
    add_login(app, gallra)
    return app


def allowed_hosts(web: WebSettings) -> set[str]:
    """The names the page answers to: loopback, the bound host and `web.allowed_hosts`."""
    names = {"127.0.0.1", "localhost", "[::1]", web.host, *web.allowed_hosts}
    return {n.lower() for n in names if n and n not in ("0.0.0.0", "::")}


def _add_guard(app: FastAPI) -> None:
    """Security headers on every response; an unexpected error named by its type only."""

    allowed = allowed_hosts(app.state.gallra.settings.web)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.lower() not in allowed:  # DNS rebinding: a page elsewhere naming our address
            refused = HTMLResponse("gallra: unknown host name", status_code=400)
            security_headers(refused)
            return refused
        if any(len(part) > 18 and part.isdigit() for part in request.url.path.split("/")):
            missing = HTMLResponse("gallra: no such page", status_code=404)  # no id is that long
            security_headers(missing)
            return missing
        try:
            response: Response = await call_next(request)
        except Exception as exc:
            # An unexpected error's text may quote SQL parameters (search words, names)
            # and a URL is whatever the client sent: log the error's type and the
            # route's template (/items/{item_id}) only, never the traceback.
            route = getattr(request.scope.get("route"), "path", "?")
            _log.error("web: %s on %s %s", type(exc).__name__, request.method, route)
            words = texts(language_of(request, None))
            response = HTMLResponse(
                words.gettext(
                    "gallra: internal error (%(type)s); the installer can run gallra doctor",
                    type=type(exc).__name__,
                ),
                status_code=500,
            )
        security_headers(response)
        return response


def _add_error_pages(app: FastAPI) -> None:
    """Calm pages for refused input, missing things and expired forms (no content echoed)."""

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        words = texts(language_of(request, None))
        return HTMLResponse(words.gettext("Log in first."), status_code=401)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _problem(request, 403, N_("This form has expired or did not come from gallra."))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _problem(request, 404, str(exc), translate=False)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # Name the field, never echo the value back.
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        return _problem(request, 400, N_("Please check: %(fields)s"), fields=", ".join(fields))

    @app.exception_handler(GallraError)
    async def refused(request: Request, exc: GallraError) -> Response:
        return _problem(request, 400, str(exc), translate=False)

    def _problem(
        request: Request, status: int, message: str, *, translate: bool = True, **values: str
    ) -> Response:
        lang = language_of(request, None)
        words = texts(lang)
        text = words.gettext(message, **values) if translate else translate_problem(message, words)
        return render_page(request, "problem.html", who=None, status_code=status, message=text)

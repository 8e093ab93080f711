"""A demo practice with a hostile HTML e-mail, and a logged-in client for the web tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import select
from starlette.routing import BaseRoute

from gallra.settings import get_settings
from gallra.web.app import create_app
from gallra.wiring import App, parse_now
from models.tables import Item, Subject
from tests.conftest import Cli

PASSWORD = "korrekt häst batteri"
TODAY = "2026-11-30"
XSS_WORD = "xssprobe"

XSS_EML = f"""\
From: Mallory Test <mallory@example.invalid>
To: Coach Demo <coach@example.org>
Subject: <script>alert('subject')</script> {XSS_WORD}
Date: Mon, 02 Nov 2026 10:00:00 +0100
Message-ID: <xss-1@example.invalid>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/html; charset="utf-8"

<html><head><style>body{{background:url(https://tracker.example.invalid/s.png)}}</style></head>
<body onload="alert('body')"><p>Hello {XSS_WORD}</p>
<script>alert('script')</script>
<img src="https://tracker.example.invalid/pixel.gif" onerror="alert('img')">
<a href="javascript:alert('link')">click</a>
<a href="https://example.invalid/ok">fine link</a>
<iframe src="https://evil.example.invalid/"></iframe>
<svg onload="alert('svg')"></svg>
<form action="https://evil.example.invalid/"><input name="x"></form>
</body></html>

--b1
Content-Type: text/html; name="page.html"
Content-Disposition: attachment; filename="page.html"

<script>alert('attachment')</script>
--b1--
"""


# A message naming nobody (no address at all): it waits in the unassigned queue.
NOBODY_EML = """\
From: Telefonsvararen
To: undisclosed-recipients:;
Subject: Meddelande utan avsändare
Date: Tue, 03 Nov 2026 08:00:00 +0100
Message-ID: <nobody-1@example.invalid>

Någon ringde om en ny tid.
"""


def build_practice(tmp_path: Path, monkeypatch: Any) -> tuple[Cli, App]:
    """An initialised home with the demo practice, one hostile e-mail and a web login."""
    monkeypatch.setenv("GALLRA_TEST_WEB_PASSWORD", PASSWORD)
    cli = Cli(tmp_path / "home", now=TODAY)
    init = cli("init", "--web-password-env", "GALLRA_TEST_WEB_PASSWORD")
    assert init.code == 0, init.err
    assert cli("demo").code == 0
    eml = tmp_path / "eml"
    eml.mkdir()
    (eml / "xss.eml").write_text(XSS_EML, encoding="utf-8")
    (eml / "nobody.eml").write_text(NOBODY_EML, encoding="utf-8")
    ingest = cli("ingest", "mail", "--eml-dir", str(eml))
    assert ingest.code == 0, ingest.err
    return cli, App(settings=get_settings(cli.home), clock=parse_now(TODAY))


def csrf_in(html: str) -> str:
    """The first CSRF token on a page."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no csrf field on the page"
    return match.group(1)


def log_in(client: TestClient, password: str = PASSWORD, user: str = "coach") -> Any:
    """Log in through the form, as a browser would."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": user, "password": password, "csrf": csrf_in(page.text)},
        follow_redirects=False,
    )


def client_for(gallra: App, language: str = "en", address: str = "127.0.0.1") -> TestClient:
    """A test client over the app (cookies kept between requests), asking for `language`,
    from the client `address`."""
    client = TestClient(create_app(gallra), base_url="http://127.0.0.1", client=(address, 50000))
    client.headers["Accept-Language"] = language
    return client


def all_routes(routes: list[BaseRoute]) -> list[APIRoute]:
    """Every API route, through included routers."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += all_routes(route.original_router.routes)
    return found


def ids(gallra: App) -> dict[str, int]:
    """Ids of the demo people and items the tests use."""
    with gallra.session() as session:
        people = {s.display_name.split()[0].lower(): s.id for s in session.exec(select(Subject))}
        items = {i.title: i.id for i in session.exec(select(Item))}
    out = {k: v for k, v in people.items() if v is not None}
    for title, item_id in items.items():
        assert item_id is not None
        if XSS_WORD in title:
            out["xss"] = item_id
        elif title == "page.html":
            out["xss_attachment"] = item_id
        elif title.endswith(".ogg"):
            out["recording"] = item_id
        elif title == "Reflektioner efter sessionen":
            out["astrid_mail"] = item_id
    return out

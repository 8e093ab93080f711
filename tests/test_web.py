"""The web page through FastAPI's test client: login, CSRF, every route, every action."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from gallra.web.security import SESSION_COOKIE
from gallra.wiring import App
from models.tables import AuditEvent, Engagement, Hold, Item, Request, Subject
from tests.conftest import Cli
from tests.web_support import (
    PASSWORD,
    XSS_WORD,
    all_routes,
    build_practice,
    client_for,
    csrf_in,
    ids,
    log_in,
)


@pytest.fixture
def practice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Cli, App]:
    return build_practice(tmp_path, monkeypatch)


@pytest.fixture
def client(practice: tuple[Cli, App]) -> TestClient:
    """A logged-in browser."""
    _, gallra = practice
    client = client_for(gallra)
    response = log_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/"
    return client


def _search(client: TestClient, words: str, **filters: str) -> Any:
    """Search as the form does: words in a POST body with the session's token."""
    token = csrf_in(client.get("/").text)
    return client.post("/search", data={"q": words, "csrf": token, **filters})


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_no_route_answers_without_login(practice: tuple[Cli, App]) -> None:
    """GIVEN no session THEN every page redirects to login and every form is refused."""
    _, gallra = practice
    client = client_for(gallra)
    routes = all_routes(list(client.app.routes))  # type: ignore[attr-defined]
    assert len(routes) >= 15
    for route in routes:
        path = _fill(route.path)
        for method in route.methods or ():
            if path == "/login":
                continue
            response = client.request(method, path, follow_redirects=False)
            if method == "GET":
                assert response.status_code == 303, path
                assert response.headers["location"] == "/login", path
            else:
                assert response.status_code == 401, (method, path)
    # A made-up cookie is no session either.
    client.cookies.set(SESSION_COOKIE, "forged")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_strangers_wrong_logins_never_keep_the_coach_out(practice: tuple[Cli, App]) -> None:
    """GIVEN a stranger at another address who tries 480 wrong passwords WHEN the coach logs
    in from her own browser THEN she gets in at once; the stranger waits longer after each
    failure, and even the right password is refused while they must wait."""
    _, gallra = practice
    stranger = client_for(gallra, address="203.0.113.66")
    assert log_in(stranger, password="wrong password").headers["location"] == "/login?failed=1"
    assert log_in(stranger, user="nobody").headers["location"] == "/login?failed=1"
    answers = [log_in(stranger, password="still wrong").headers["location"] for _ in range(478)]
    assert answers[0] == "/login?failed=1" and answers[-1] == "/login?failed=2"
    assert log_in(stranger).headers["location"] == "/login?failed=2"  # must wait, even so
    coach = client_for(gallra, address="192.0.2.10")
    assert log_in(coach).headers["location"] == "/"
    with gallra.session() as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
    assert actions.count("login-throttled") > 470  # answered without a password check
    assert actions.count("login") == 1


def test_failures_wait_longer_each_time_up_to_a_quarter_hour(practice: tuple[Cli, App]) -> None:
    from datetime import UTC, datetime, timedelta

    from storage.webauth import failed_try, may_try_at

    _, gallra = practice
    start = datetime(2026, 12, 6, 12, tzinfo=UTC)
    waits = []
    with gallra.session() as session:
        now = start
        for _ in range(16):
            until = failed_try(session, key="k", now=now)
            waits.append(int((until - now).total_seconds()) if until else 0)
            now = until or now
        assert may_try_at(session, key="k", now=now - timedelta(seconds=1)) is not None
        assert may_try_at(session, key="k", now=now) is None
        assert may_try_at(session, key="other", now=start) is None
    assert waits[:8] == [0, 0, 1, 2, 4, 8, 16, 32] and max(waits) == 900


def test_scrypt_never_runs_on_the_event_loop_and_old_hashes_are_upgraded(
    practice: tuple[Cli, App], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a password hashed with the old n=2**15 WHEN the coach logs in THEN the check ran
    in a worker thread (no event loop there), and her hash is now n=2**17."""
    import asyncio
    import base64
    import hashlib

    from gallra.web import passwords
    from models.tables import WebUser

    _, gallra = practice
    salt = b"0123456789abcdef"
    old = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**15, r=8, p=1, dklen=32, maxmem=2**26)
    with gallra.session() as session:
        user = session.exec(select(WebUser)).one()
        user.password_hash = (
            f"scrypt$32768$8$1${base64.b64encode(salt).decode()}${base64.b64encode(old).decode()}"
        )
        session.add(user)
    loops: list[bool] = []
    real = passwords._scrypt

    def watched(*args: Any) -> bytes:
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:
            loops.append(False)
        return real(*args)

    monkeypatch.setattr(passwords, "_scrypt", watched)
    assert log_in(client_for(gallra)).headers["location"] == "/"
    assert loops and not any(loops)  # the check and the rehash, each off the loop
    with gallra.session() as session:
        assert session.exec(select(WebUser)).one().password_hash.startswith("scrypt$131072$8$1$")


def test_an_unknown_host_name_is_refused(practice: tuple[Cli, App]) -> None:
    """DNS rebinding: a page elsewhere whose name resolves to 127.0.0.1 gets nothing."""
    _, gallra = practice
    client = client_for(gallra)
    assert client.get("/login").status_code == 200
    assert client.get("/login", headers={"Host": "127.0.0.1:8787"}).status_code == 200
    assert client.get("/login", headers={"Host": "localhost"}).status_code == 200
    refused = client.get("/login", headers={"Host": "rebind.example.com"})
    assert refused.status_code == 400 and "csrf" not in refused.text


def test_login_form_needs_its_csrf_token(practice: tuple[Cli, App]) -> None:
    """WHEN a login is posted from elsewhere (no token) THEN it is refused."""
    _, gallra = practice
    client = client_for(gallra)
    response = client.post("/login", data={"username": "coach", "password": PASSWORD})
    assert response.status_code == 403


def test_cookie_flags_and_security_headers(practice: tuple[Cli, App]) -> None:
    """THEN the session cookie is HttpOnly and SameSite, and pages are neither cached nor framed."""
    _, gallra = practice
    client = client_for(gallra)
    response = log_in(client)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "img-src 'self' data:" in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_forms_without_the_csrf_token_change_nothing(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    """WHEN a form arrives without or with a wrong token THEN 403 and no hold is placed."""
    _, gallra = practice
    people = ids(gallra)
    path = f"/subjects/{people['astrid']}/holds"
    form = {"kind": "legal_hold", "reason": "dispute"}
    assert client.post(path, data=form).status_code == 403
    assert client.post(path, data={**form, "csrf": "guess"}).status_code == 403
    with gallra.session() as session:
        assert session.exec(select(Hold).where(Hold.kind == "legal_hold")).all() == []


def test_search_finds_a_word_and_audits_without_the_words(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    """WHEN the coach searches a Swedish word THEN the mail and its person show; no words kept."""
    _, gallra = practice
    people = ids(gallra)
    page = _search(client, "gränser")
    assert page.status_code == 200
    assert "Reflektioner efter sessionen" in page.text
    assert f'href="/subjects/{people["astrid"]}"' in page.text
    assert "<mark>gränser</mark>" in page.text
    by_name = _search(client, "lovgren")  # a name typed without ö
    assert "Astrid Lövgren (demo)" in by_name.text
    filtered = client.get("/search", params={"kind": "recording"})  # filters may be in a URL
    assert "samtal.ogg" in filtered.text and "Reflektioner" not in filtered.text
    with gallra.session() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "search")).all()
    assert len(events) == 2  # the two word searches; browsing is audited as "browse"
    assert all("gränser" not in e.detail and "lovgren" not in e.detail for e in events)


def test_hostile_input_in_the_search_box(client: TestClient) -> None:
    """WHEN the search box holds markup or query syntax THEN it is shown escaped and harmless."""
    page = _search(client, '<script>alert(1)</script> " NEAR( *')
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert client.get("/search", params={"from": "yesterday"}).status_code == 400
    # Words in a URL are ignored: they would end up in history and proxy logs.
    assert "Reflektioner" in client.get("/search", params={"q": "zzzqqq"}).text


def test_subject_page_shows_her_client(client: TestClient, practice: tuple[Cli, App]) -> None:
    """THEN a person's page shows the coach her client's roles, agreements, items and
    addresses in full (the personnummer exists only as a keyed hash: never shown)."""
    _, gallra = practice
    page = client.get(f"/subjects/{ids(gallra)['astrid']}")
    assert page.status_code == 200
    assert "Astrid Lövgren (demo)" in page.text
    assert "astrid.lovgren@example.se" in page.text
    assert "1 Sep 2024" in page.text  # agreement start
    assert "Reflektioner efter sessionen" in page.text
    assert client.get("/subjects/99999").status_code == 404


def test_hostile_html_mail_is_rendered_inert(client: TestClient, practice: tuple[Cli, App]) -> None:
    """GIVEN an e-mail full of script, handlers and trackers THEN none of it survives the page."""
    _, gallra = practice
    known = ids(gallra)
    for url in (f"/items/{known['xss']}", f"/items/{known['xss']}?html=1"):
        page = client.get(url)
        assert page.status_code == 200
        body = page.text.lower()
        assert XSS_WORD in body
        for bad in ("<script", "onerror", "onload", "javascript:", "<iframe", "<svg", "<img"):
            assert bad not in body, (url, bad)
        assert "tracker.example.invalid" not in body
        assert "evil.example.invalid" not in body
    formatted = client.get(f"/items/{known['xss']}?html=1").text
    assert 'href="https://example.invalid/ok"' in formatted
    assert 'rel="noopener noreferrer nofollow"' in formatted
    # The HTML attachment is only ever a download, never rendered by the browser.
    raw = client.get(f"/items/{known['xss_attachment']}/content")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"].startswith("attachment;")


def test_recording_streams_for_the_player(client: TestClient, practice: tuple[Cli, App]) -> None:
    """THEN the item page has a player and its source streams the stored bytes."""
    _, gallra = practice
    rec = ids(gallra)["recording"]
    page = client.get(f"/items/{rec}")
    assert f'<audio controls preload="metadata" src="/items/{rec}/content"' in page.text
    audio = client.get(f"/items/{rec}/content")
    with gallra.session() as session:
        item = session.get(Item, rec)
        assert item is not None
    assert audio.headers["content-type"] == "audio/ogg"
    assert audio.content[:4] == b"OggS" and len(audio.content) == item.size


def test_a_tampered_mail_shows_an_error_naming_the_item(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    """GIVEN an e-mail whose stored bytes were altered THEN its page says so, naming it."""
    _, gallra = practice
    mail = ids(gallra)["astrid_mail"]
    with gallra.session() as session:
        item = session.get(Item, mail)
        assert item is not None
    path = gallra.settings.blob_path / item.blob_key
    altered = bytearray(path.read_bytes())
    altered[-3] ^= 0xFF
    path.write_bytes(bytes(altered))
    page = client.get(f"/items/{mail}")
    assert page.status_code == 400
    assert f"item {mail}: blob {item.blob_key}" in page.text and "altered" in page.text
    assert "Reflektioner" not in page.text


def _post(client: TestClient, page_url: str, action: str, data: dict[str, Any]) -> Any:
    token = csrf_in(client.get(page_url).text)
    return client.post(action, data={**data, "csrf": token}, follow_redirects=False)


def test_actions_hold_request_engagement_assign(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    """WHEN the coach places and lifts a hold, records a request, ends an agreement, assigns an item
    THEN the index says so and the audit trail names each action."""
    _, gallra = practice
    known = ids(gallra)
    bertil = f"/subjects/{known['bertil']}"
    placed = _post(client, bertil, f"{bertil}/holds", {"kind": "restriction", "reason": "art 18"})
    assert placed.status_code == 303 and placed.headers["location"].endswith("done=hold")
    with gallra.session() as session:
        hold = session.exec(select(Hold).where(Hold.kind == "restriction")).one()
    assert "restricted" in client.get(bertil).text
    assert "restricted" in _search(client, "faktura").text
    lifted = _post(client, bertil, f"/holds/{hold.id}/lift", {})
    assert lifted.status_code == 303
    opened = _post(
        client, bertil, f"{bertil}/requests", {"right": "access", "received_on": "2026-11-20"}
    )
    assert opened.status_code == 303
    assert "answer by 20 Dec 2026" in client.get(bertil).text
    assert "20 days left" in client.get(bertil).text
    with gallra.session() as session:
        running = session.exec(
            select(Engagement).where(
                Engagement.client_id == known["bertil"], col(Engagement.ends_on).is_(None)
            )
        ).one()
        engagement_id = running.id
    ended = _post(
        client,
        bertil,
        f"/engagements/{engagement_id}/end",
        {"ends_on": "2026-11-30", "subject_id": str(known["bertil"])},
    )
    assert ended.status_code == 303
    assert "running" not in client.get(bertil).text.split("Agreements")[1].split("</section>")[0]
    unassigned = client.get("/unassigned").text
    assert "Meddelande utan avsändare" in unassigned
    assert "Veckans tips" not in unassigned  # bulk mail waits out its 3 months untagged
    item_id = int(re.findall(r'action="/items/(\d+)/assign"', unassigned)[0])
    assigned = _post(
        client, "/unassigned", f"/items/{item_id}/assign", {"subject_id": str(known["david"])}
    )
    assert assigned.status_code == 303
    with gallra.session() as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
        requests = session.exec(select(Request)).all()
    for action in ("hold-add", "hold-lift", "request-open", "engagement-end", "assign"):
        assert action in actions
    assert [r.right for r in requests] == ["access"]


def test_export_then_download(client: TestClient, practice: tuple[Cli, App]) -> None:
    """WHEN the coach makes an export THEN a zip with the person's items can be downloaded."""
    _, gallra = practice
    astrid = f"/subjects/{ids(gallra)['astrid']}"
    made = _post(client, astrid, f"{astrid}/export", {})
    assert made.status_code == 303
    page = client.get(astrid).text
    link = re.search(r'href="(/items/\d+/content)">Download export-', page)
    assert link, "no download link"
    bundle = client.get(link.group(1))
    assert bundle.headers["content-disposition"].startswith("attachment;")
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert any(n.endswith(".eml") for n in names) and any(n.endswith(".ogg") for n in names)
    assert not list((gallra.settings.home / "work").iterdir())  # nothing left behind


def test_erasure_dry_run_then_confirmed(client: TestClient, practice: tuple[Cli, App]) -> None:
    """WHEN the coach previews and confirms an erasure THEN the person is gone, with a receipt."""
    _, gallra = practice
    david = ids(gallra)["david"]
    preview = client.get(f"/subjects/{david}/erase")
    assert "dry run" in preview.text
    with gallra.session() as session:
        assert session.get(Subject, david) is not None
    wrong = _post(client, f"/subjects/{david}/erase", f"/subjects/{david}/erase", {"confirm": "1"})
    assert wrong.status_code == 400
    done = _post(
        client, f"/subjects/{david}/erase", f"/subjects/{david}/erase", {"confirm": str(david)}
    )
    assert done.status_code == 200 and "Erasure done" in done.text
    with gallra.session() as session:
        assert session.get(Subject, david) is None
        erased = session.exec(select(AuditEvent).where(AuditEvent.action == "erase")).one()
    assert json.loads(erased.detail)["deleted"] >= 1


def test_logout_ends_the_session(client: TestClient, practice: tuple[Cli, App]) -> None:
    """WHEN the coach logs out THEN the old cookie opens nothing."""
    token = client.cookies.get(SESSION_COOKIE)
    assert token
    out = _post(client, "/", "/logout", {})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_audit_command_lists_views_without_content(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    """THEN `gallra audit` shows who looked at what, by id only."""
    cli, gallra = practice
    known = ids(gallra)
    client.get(f"/items/{known['astrid_mail']}")
    client.get(f"/items/{known['recording']}/content")
    events = cli("audit", "--json").json()
    kinds = {(e["action"], e["item_id"]) for e in events}
    assert ("view-item", known["astrid_mail"]) in kinds
    assert ("play", known["recording"]) in kinds
    assert all(e["actor"].startswith("web:coach") for e in events if e["action"] == "play")
    text = json.dumps(events, ensure_ascii=False)
    assert "Astrid" not in text and "gränser" not in text
    assert client.get("/audit").status_code == 200
    with gallra.session() as session:
        assert session.exec(select(AuditEvent).where(col(AuditEvent.item_id).is_(None))).first()


def test_an_internal_error_shows_and_logs_no_personal_data(
    client: TestClient, practice: tuple[Cli, App], caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN a broken index WHEN a search fails inside the database
    THEN the answer and the log name the error type only, never the words searched."""
    _, gallra = practice
    with gallra.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE item_fts")
    with caplog.at_level("DEBUG"):
        page = _search(client, "lövgren astrid")
    assert page.status_code == 500
    assert "OperationalError" in page.text and "lövgren" not in page.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "OperationalError" in logged
    assert "lövgren" not in logged.lower() and "astrid" not in logged.lower()


def test_recordings_can_be_sought_with_byte_ranges(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    """WHEN a player asks for part of a recording THEN it gets exactly those bytes (206),
    and only the playback's first request is audited, not every seek."""
    _, gallra = practice
    rec = ids(gallra)["recording"]
    whole = client.get(f"/items/{rec}/content")
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    middle = client.get(f"/items/{rec}/content", headers={"Range": "bytes=100-199"})
    assert middle.status_code == 206
    assert middle.headers["content-range"] == f"bytes 100-199/{size}"
    assert middle.content == whole.content[100:200]
    tail = client.get(f"/items/{rec}/content", headers={"Range": "bytes=-10"})
    assert tail.content == whole.content[-10:]
    open_end = client.get(f"/items/{rec}/content", headers={"Range": f"bytes={size - 5}-"})
    assert open_end.content == whole.content[-5:]
    past = client.get(f"/items/{rec}/content", headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    several = client.get(f"/items/{rec}/content", headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == whole.content
    with gallra.session() as session:
        plays = session.exec(
            select(AuditEvent).where(AuditEvent.action == "play", AuditEvent.item_id == rec)
        ).all()
    assert len(plays) == 2  # the whole file, and the request for all of it again

"""The coach's console in Swedish: the start page and every daily task, each audited,
through FastAPI's test client (the Chromium day is in test_web_day.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from gallra.wiring import App
from models.tables import AuditEvent, Consent, Engagement, Identifier, Request, Subject
from tests.conftest import Cli
from tests.web_support import build_practice, client_for, csrf_in, ids, log_in


@pytest.fixture
def practice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Cli, App]:
    return build_practice(tmp_path, monkeypatch)


@pytest.fixture
def client(practice: tuple[Cli, App]) -> TestClient:
    """A logged-in browser that asks for Swedish, as hers does."""
    client = client_for(practice[1], language="sv-SE,sv;q=0.9,en;q=0.5")
    assert log_in(client).status_code == 303
    return client


def _post(client: TestClient, page: str, action: str, data: dict[str, Any]) -> Any:
    token = csrf_in(client.get(page).text)
    return client.post(action, data={**data, "csrf": token}, follow_redirects=False)


def _actions(gallra: App) -> list[str]:
    with gallra.session() as session:
        return [e.action for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]


def test_pages_speak_swedish_and_english_on_request(client: TestClient) -> None:
    """GIVEN her browser asks for Swedish THEN every page is Swedish with lang="sv"; WHEN she
    picks English THEN it sticks to her, whatever the browser asks."""
    for path in ("/", "/search", "/people", "/requests", "/unassigned", "/audit", "/problems"):
        page = client.get(path)
        assert page.status_code == 200 and '<html lang="sv">' in page.text, path
    start = client.get("/").text
    assert "I dag, 30 nov. 2026" in start and "Begäranden" in start
    assert "Senaste nattkörningen" in start
    switched = _post(client, "/", "/language", {"language": "en"})
    assert switched.status_code == 303
    english = client.get("/").text
    assert '<html lang="en">' in english and "Today, 30 Nov 2026" in english
    assert "Language changed." in client.get("/?done=language").text
    bad = _post(client, "/", "/language", {"language": "de"})
    assert bad.status_code == 400


def test_login_and_error_pages_follow_the_browser(practice: tuple[Cli, App]) -> None:
    swedish = client_for(practice[1], language="sv")
    assert "Logga in" in swedish.get("/login").text
    english = client_for(practice[1], language="en-GB")
    assert (
        "Log in" in english.get("/login").text and '<html lang="en">' in english.get("/login").text
    )
    assert log_in(swedish).status_code == 303
    missing = swedish.get("/subjects/99999")
    assert missing.status_code == 404 and "Något stämde inte" in missing.text


def test_start_page_shows_what_gallra_today_shows(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    """GIVEN an open request and items due THEN the start page lists the same requests with
    their days left and the same deletions per horizon as `gallra today --json`."""
    cli, gallra = practice
    bertil = ids(gallra)["bertil"]
    assert (
        cli("request", "open", str(bertil), "--right", "access", "--received", "2026-11-20").code
        == 0
    )
    today = cli("today", "--json").json()
    page = client.get("/").text
    requests = re.findall(r'id="request-(\d+)"', page.split('id="deletions"')[0])
    assert [int(r) for r in requests] == [r["id"] for r in today["requests"]]
    assert "20 dagar kvar" in page
    for ahead in today["deletions"]:
        heading = "I natt" if ahead["days"] == 1 else f"Inom {ahead['days']} dagar"
        assert f"{heading}: {ahead['items']} objekt" in page
        for person in ahead["people"]:
            if person["subject_id"]:
                assert f'/subjects/{person["subject_id"]}">{person["name"]}</a>' in page
    assert f"{today['unassigned']} objekt som inte hör till någon" in page
    assert "Ingen nattkörning än." in page
    assert cli("nightly").code in (0, 1)
    after = client.get("/").text
    assert "Gallring av det som ska bort" in after and "Säkerhetskopia av registret" in after


def test_register_correct_agreement_party_consent_objection(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    """WHEN the coach registers a client, corrects her, starts an agreement after seeing
    what it does to the dates, links a payer, gives and withdraws a consent and records an
    objection THEN the index says so and the audit trail names each action."""
    _, gallra = practice
    made = _post(
        client,
        "/people",
        "/people",
        {
            "name": "Åsa Öhman",
            "emails": "asa.ohman@example.se\n",
            "phones": "070-765 43 21",
            "role": "client",
            "personnummer": "121212-1212",
        },
    )
    assert made.status_code == 303 and made.headers["location"].endswith("done=registered")
    person = f"/subjects/{made.headers['location'].split('/')[2].split('?')[0]}"
    page = client.get(person).text
    assert "asa.ohman@example.se" in page and "+46707654321" in page  # her client, in full
    assert "121212-1212" not in page  # only a keyed hash is held
    sid = int(person.rsplit("/", 1)[1])
    wrong = _post(client, person, f"{person}/check-personnummer", {"personnummer": "811218-9876"})
    assert "Det stämmer inte." in wrong.text
    right = _post(client, person, f"{person}/check-personnummer", {"personnummer": "121212-1212"})
    assert "Det stämmer." in right.text

    fixed = _post(
        client, person, f"{person}/rectify", {"name": "Åsa Öhman-Lind", "add_email": "asa@lind.se"}
    )
    assert fixed.status_code == 303
    with gallra.session() as session:
        assert session.get(Subject, sid).display_name == "Åsa Öhman-Lind"  # type: ignore[union-attr]
        addresses = set(session.exec(select(Identifier.value).where(Identifier.subject_id == sid)))
    assert "asa@lind.se" in addresses

    confirm = client.get(f"{person}/agreements/new", params={"starts_on": "2026-11-02"})
    assert "Starta ett avtal den 2 nov. 2026?" in confirm.text
    assert "Åsa Öhman-Linds 0 objekt sparas så länge ett avtal löper." in confirm.text
    with gallra.session() as session:  # the confirmation page changed nothing
        assert not session.exec(select(Engagement).where(Engagement.client_id == sid)).all()
    started = _post(client, person, f"{person}/agreements", {"starts_on": "2026-11-02"})
    assert started.status_code == 303
    with gallra.session() as session:
        engagement = session.exec(select(Engagement).where(Engagement.client_id == sid)).one()
    cecilia = ids(gallra)["cecilia"]
    linked = _post(
        client,
        person,
        f"/engagements/{engagement.id}/parties",
        {"subject_id": str(cecilia), "role": "payer", "client_id": str(sid)},
    )
    assert linked.status_code == 303
    assert "Företräder Åsa Öhman-Lind i avtal" in client.get(f"/subjects/{cecilia}").text

    given = _post(client, person, f"{person}/consent", {"purpose": "marketing", "given": "1"})
    assert given.status_code == 303
    unticked = _post(client, person, f"{person}/consent", {"purpose": "marketing", "given": "0"})
    assert unticked.status_code == 400  # a withdrawal deletes: the box must be ticked
    assert "kryssa i rutan för att återkalla samtycket" in unticked.text
    withdrawn = _post(
        client, person, f"{person}/consent", {"purpose": "marketing", "given": "0", "confirm": "1"}
    )
    assert withdrawn.status_code == 303
    with gallra.session() as session:
        consent = session.exec(select(Consent).where(Consent.subject_id == sid)).one()
    assert consent.withdrawn_at is not None
    assert _post(client, person, f"{person}/object", {}).status_code == 400
    objected = _post(client, person, f"{person}/object", {"confirm": "1"})
    assert objected.status_code == 303
    assert "spärrad sedan 30 nov. 2026" in client.get(person).text
    for action in (
        "subject-add",
        "check-personnummer",
        "rectify",
        "engagement-start",
        "engagement-party",
        "consent-give",
        "consent-withdraw",
        "object",
    ):
        assert action in _actions(gallra)


def test_ending_an_agreement_says_what_it_does_to_the_dates(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    _, gallra = practice
    bertil = ids(gallra)["bertil"]
    with gallra.session() as session:
        engagement = session.exec(
            select(Engagement).where(
                Engagement.client_id == bertil, col(Engagement.ends_on).is_(None)
            )
        ).one()
    confirm = client.get(
        f"/engagements/{engagement.id}/end",
        params={"ends_on": "2026-11-30", "subject_id": str(bertil)},
    )
    assert "Avsluta avtalet den 30 nov. 2026?" in confirm.text
    # Bertil's invoice follows bokföringslagen; his payer Cecilia is shown too.
    assert "Bertil Åkesson (demo)s 2 objekt sparas till 31 dec. 2033." in confirm.text
    assert "Cecilia Öberg (demo)s 2 objekt sparas till" in confirm.text
    with gallra.session() as session:
        assert session.get(Engagement, engagement.id).ends_on is None  # type: ignore[union-attr]
    ended = _post(
        client,
        f"/subjects/{bertil}",
        f"/engagements/{engagement.id}/end",
        {"ends_on": "2026-11-30", "subject_id": str(bertil)},
    )
    assert ended.status_code == 303


def test_requests_are_extended_once_and_closed(
    client: TestClient, practice: tuple[Cli, App]
) -> None:
    _, gallra = practice
    astrid = f"/subjects/{ids(gallra)['astrid']}"
    for right in ("access", "rectification"):
        opened = _post(
            client, astrid, f"{astrid}/requests", {"right": right, "received_on": "2026-11-02"}
        )
        assert opened.status_code == 303
    listing = client.get("/requests").text
    assert "2 dagar kvar" in listing and "tillgång (registerutdrag)" in listing
    with gallra.session() as session:
        first, second = session.exec(select(Request).order_by(col(Request.id))).all()
    extended = _post(
        client,
        "/requests",
        f"/requests/{first.id}/extend",
        {"reason": "Omfattande material", "back": "/requests"},
    )
    assert extended.status_code == 303 and extended.headers["location"] == "/requests?done=extended"
    again = _post(client, "/requests", f"/requests/{first.id}/extend", {"reason": "igen"})
    assert again.status_code == 400
    assert f"begäran #{first.id}: redan förlängd en gång" in again.text
    blank = _post(client, "/people", "/people", {"name": " "})
    assert blank.status_code == 400 and "namn: måste fyllas i" in blank.text
    closed = _post(
        client, "/requests", f"/requests/{second.id}/close", {"outcome": "done", "back": astrid}
    )
    assert closed.headers["location"] == f"{astrid}?done=closed"
    away = _post(
        client,
        "/requests",
        f"/requests/{first.id}/close",
        {"outcome": "refused", "back": "https://evil.example/"},
    )
    assert away.headers["location"] == "/requests?done=closed"  # only back to our own pages
    with gallra.session() as session:
        statuses = [r.status for r in session.exec(select(Request).order_by(col(Request.id)))]
    assert statuses == ["refused", "done"]
    assert "Inga öppna begäranden." in client.get("/requests").text


def test_the_queue_preselects_nobody(client: TestClient) -> None:
    """THEN no person is chosen for an unassigned item until the coach chooses one."""
    page = client.get("/unassigned").text
    selects = re.findall(r'<select name="subject_id" required>(.*?)</select>', page, re.S)
    assert selects
    for options in selects:
        assert re.search(r'<option value="" selected disabled>', options)
        assert options.count("selected") == 1


def test_an_own_address_left_out_is_pointed_out(
    client: TestClient, practice: tuple[Cli, App], tmp_path: Path
) -> None:
    """GIVEN the practice's second address is not among its own addresses WHEN 24 mails to it
    are ingested THEN doctor and the start page say that one person is on most of the mail."""
    cli, _ = practice
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    for n in range(24):
        (inbox / f"{n}.eml").write_text(
            f"From: Person {n} <person{n}@example.se>\nTo: Mottagningen <info@example.org>\n"
            f"Subject: Fråga {n}\nDate: Mon, 02 Nov 2026 10:00:00 +0100\n"
            f"Message-ID: <q{n}@example.se>\n\nHej!\n",
            encoding="utf-8",
        )
    assert cli("ingest", "mail", "--eml-dir", str(inbox)).code == 0
    doctor = cli("doctor", "--json").json()
    assert doctor["dominant_subject"]["items"] >= 24
    assert "mail.own_addresses" in cli("doctor").out
    assert "troligen mottagningens egen adress" in client.get("/").text
    assert "troligen mottagningens egen adress" in client.get("/problems").text

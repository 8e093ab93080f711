"""A coach's whole day in real headless Chromium, in Swedish, then the key pages in English,
at 1280 and 390 px, each page checked with axe-core (no serious or critical violation).

Screenshots go to artifacts/screenshots/day-*.png for people to look at.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from gallra.wiring import App
from tests.conftest import Cli
from tests.test_recordings import settle, speech
from tests.test_web_browser import CHROMIUM, QUIET, SHOTS
from tests.web_support import PASSWORD, ids

pytestmark = pytest.mark.integration

AXE = Path(sys.executable).parents[1] / "node" / "node_modules" / "axe-core" / "axe.min.js"
MAIL = """From: =?utf-8?q?=C3=85sa_=C3=96hman?= <asa.ohman@example.se>
To: Coach Demo <coach@example.org>
Subject: Inför vårt första samtal
Date: Mon, 30 Nov 2026 07:45:00 +0100
Message-ID: <asa-1@example.se>
Content-Type: text/plain; charset=utf-8

Hej! Jag ser fram emot torsdag. Jag har skrivit ner några tankar om mina mål.
"""


class Day:
    """One browser page, with an accessibility check and screenshots along the way."""

    def __init__(self, page: Any, base: str, width: int) -> None:
        self.page, self.base, self.width = page, base, width
        self.checked: list[str] = []

    def check(self, name: str) -> None:
        """Screenshot the page, assert it fits the width and that axe finds nothing serious."""
        from playwright.sync_api import expect

        expect(self.page.locator("main")).to_be_visible()
        self.page.screenshot(path=SHOTS / f"day-{self.width}-{name}.png", full_page=True)
        scroll = self.page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= self.width, f"{name}: scrolls sideways at {self.width}px ({scroll}px)"
        if not self.page.evaluate("typeof axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text(encoding="utf-8"))
        report = self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify("
            "r.violations.map(v => ({id: v.id, impact: v.impact, "
            "nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))))"
        )
        bad = [v for v in json.loads(report) if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{name} at {self.width}px: {bad}"
        self.checked.append(name)


def test_a_coachs_day_in_swedish_then_english(served: tuple[str, Cli, App], tmp_path: Path) -> None:
    """GIVEN the demo practice WHEN the coach does her day in the browser, in Swedish
    THEN every step works and says so, every page passes axe, at both widths."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: scripts/test installs Debian's chromium")
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: scripts/test installs axe-core with npm")
    from playwright.sync_api import expect, sync_playwright

    base, cli, gallra = served
    known = ids(gallra)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("day-*.png"):
        old.unlink()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=QUIET)
        context = browser.new_context(
            base_url=base, viewport={"width": 1280, "height": 900}, locale="sv-SE"
        )
        page = context.new_page()
        day = Day(page, base, 1280)
        try:
            # Log in: the page is Swedish before anyone chose a language.
            page.goto("/")
            expect(page).to_have_url(f"{base}/login")
            expect(page.locator("html")).to_have_attribute("lang", "sv")
            day.check("01-logga-in")
            page.get_by_label("Lösenord").fill(PASSWORD)
            page.get_by_role("button", name="Logga in").click()
            expect(page.locator("h1")).to_have_text("I dag, 30 nov. 2026")
            day.check("02-start")

            # Register a new client and start her agreement, after seeing what it does.
            page.get_by_role("navigation").get_by_role("link", name="Personer").click()
            form = page.locator("#register-form")
            form.get_by_label("Namn").fill("Åsa Öhman")
            form.get_by_label("E-postadresser (en per rad)").fill("asa.ohman@example.se")
            form.get_by_label("Roll").select_option("client")
            form.get_by_role("button", name="Registrera").click()
            expect(page.get_by_role("status")).to_have_text("Personen är registrerad.")
            asa = page.url.split("?")[0]
            day.check("03-ny-klient")
            page.get_by_role("button", name="Starta ett avtal…").click()
            expect(page.locator("#dates-after")).to_contain_text("Åsa Öhmans 0 objekt sparas")
            day.check("04-bekrafta-avtal")
            page.get_by_role("button", name="Ja, starta avtalet").click()
            expect(page.get_by_role("status")).to_contain_text("Avtalet har startat")

            # Mail for her arrives by ingest, and she finds it by the address.
            inbox = tmp_path / "inkorg"
            inbox.mkdir()
            (inbox / "asa.eml").write_text(MAIL, encoding="utf-8")
            assert cli("ingest", "mail", "--eml-dir", str(inbox)).code == 0
            page.get_by_role("navigation").get_by_role("link", name="Sök").click()
            page.get_by_role("searchbox", name="Sök").fill("asa.ohman@example.se")
            page.get_by_role("button", name="Sök", exact=True).click()
            expect(page.locator(".hit")).to_have_count(1)
            expect(page.locator(".hit .title")).to_have_text("Inför vårt första samtal")
            assert "asa.ohman" not in page.url  # what she searches never travels in a URL
            day.check("05-sok-adress")
            page.locator(".hit .title").click()
            expect(page.locator("dl.facts").first).to_contain_text("avsändare")
            day.check("06-mejl")

            # Record and close a request; extend another.
            page.goto(asa)
            requests = page.locator("#request-form")
            requests.get_by_label("Rättighet").select_option("access")
            requests.get_by_role("button", name="Registrera begäran").click()
            expect(page.get_by_role("status")).to_contain_text("Begäran är registrerad")
            expect(page.locator(".request")).to_contain_text("30 dagar kvar")
            page.goto(f"/subjects/{known['bertil']}")
            page.locator("#request-form").get_by_label("Rättighet").select_option("erasure")
            page.locator("#request-form").get_by_role("button", name="Registrera begäran").click()
            page.get_by_role("navigation").get_by_role("link", name="Begäranden").click()
            expect(page.locator(".request")).to_have_count(2)
            day.check("07-begaranden")
            asas = page.locator(".request", has_text="Åsa Öhman")
            asas.locator("summary").click()
            asas.get_by_label("Utfall").select_option("done")
            asas.get_by_role("button", name="Avsluta begäran").click()
            expect(page.get_by_role("status")).to_have_text("Begäran är avslutad.")
            bertils = page.locator(".request", has_text="Bertil")
            bertils.locator("summary").click()
            bertils.get_by_label("Skäl för förlängningen").fill("Omfattande material")
            bertils.get_by_role("button", name="Förläng med två månader").click()
            expect(page.get_by_role("status")).to_contain_text("Tidsfristen är förlängd")
            expect(page.locator(".request")).to_contain_text("förlängd")

            # A recording nobody could be tied to waits in the queue; she files it herself.
            drop = tmp_path / "drop"
            drop.mkdir()
            speech(drop / "inspelning-17.ogg", "Det här är ett samtal som ingen har märkt.")
            settle(drop)
            taken = cli("ingest", "recordings", "--dir", str(drop))
            assert taken.code == 0, taken.err
            page.get_by_role("navigation").get_by_role("link", name="Okopplat").click()
            queued = page.locator(".card.row", has_text="inspelning-17.ogg")
            chooser = queued.get_by_label("Koppla till")
            assert chooser.input_value() == ""  # nobody preselected
            day.check("08-okopplat")
            chooser.select_option(label="Åsa Öhman")
            queued.get_by_role("button", name="Koppla").click()
            expect(page.get_by_role("status")).to_contain_text("Objektet är kopplat")
            expect(page.locator("dl.facts").first).to_contain_text("Åsa Öhman")

            # End her agreement: the confirmation says what happens to her items' dates.
            page.goto(asa)
            page.get_by_label("Slutdatum (ÅÅÅÅ-MM-DD)").fill("2026-11-30")
            page.get_by_role("button", name="Avsluta avtalet…").click()
            expect(page.locator("#dates-after")).to_contain_text(
                "Åsa Öhmans 2 objekt sparas till 31 dec. 2031."
            )
            day.check("09-avsluta-avtal")
            page.get_by_role("button", name="Ja, avsluta avtalet").click()
            expect(page.get_by_role("status")).to_contain_text("Avtalet är avslutat")
            day.check("10-klient")

            # The erasure dry run says what would go and what must stay.
            page.get_by_role("link", name="Radera…").click()
            expect(page.locator("main")).to_contain_text("Det här är en provkörning")
            day.check("11-radera-prov")

            # The same day on her phone.
            phone = browser.new_context(
                base_url=base,
                viewport={"width": 390, "height": 844},
                is_mobile=True,
                locale="sv-SE",
            )
            phone.add_cookies(cast(Any, context.cookies()))
            mobile = Day(phone.new_page(), base, 390)
            for name, path in (
                ("02-start", "/"),
                ("03-klient", asa.removeprefix(base)),
                ("07-begaranden", "/requests"),
                ("08-okopplat", "/unassigned"),
                ("05-sok", "/search"),
            ):
                mobile.page.goto(path)
                mobile.check(name)
            phone.close()

            # English on request: her own setting, whatever the browser says.
            page.goto("/")
            page.get_by_role("button", name="English").click()
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.locator("h1")).to_have_text("Today, 30 Nov 2026")
            day.check("12-en-start")
            page.goto(asa)
            expect(page.locator("h2", has_text="Agreements")).to_be_visible()
            day.check("13-en-client")
            page.goto("/requests")
            day.check("14-en-requests")
            page.get_by_role("button", name="Svenska").click()
            expect(page.locator("html")).to_have_attribute("lang", "sv")
        finally:
            context.close()
            browser.close()
    assert len(day.checked) == 14

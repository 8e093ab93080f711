"""End to end in real headless Chromium: a coach who never saw a terminal does a day's work.

Debian's chromium driven by playwright (`executable_path`, no downloaded
browser); the app served by uvicorn on a loopback socket. Screenshots of the
main pages are kept in artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any, cast

import pytest

from gallra.wiring import App
from tests.conftest import Cli
from tests.web_support import PASSWORD, ids

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/lib/chromium/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
# Chromium's own calls home are refused on these machines; keep it quiet and local.
QUIET = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def until(page: Any, expression: str, what: str, seconds: float = 15) -> None:
    """Poll an expression with page.evaluate (wait_for_function needs eval, which our CSP bans)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"the player {what}"
        time.sleep(0.1)


def test_coach_logs_in_finds_listens_holds_exports_logs_out(
    served: tuple[str, Cli, App], tmp_path: Path
) -> None:
    """GIVEN the demo practice WHEN the coach works only in the browser THEN every step works."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: scripts/test installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    base, _, gallra = served
    known = ids(gallra)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=QUIET)
        context = browser.new_context(
            base_url=base,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
            locale="en-GB",
        )
        page = context.new_page()
        try:
            # Log in.
            page.goto("/")
            expect(page).to_have_url(f"{base}/login")
            page.screenshot(path=SHOTS / "01-login.png", full_page=True)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{base}/")

            # Find a client by a word from her e-mail (typed without å ä ö).
            page.get_by_role("link", name="Search").click()
            page.get_by_label("Search").fill("granser")
            page.get_by_role("button", name="Search").click()
            expect(page.locator("mark").first).to_have_text("gränser")
            assert "granser" not in page.url  # words never travel in a URL
            page.screenshot(path=SHOTS / "02-search.png", full_page=True)
            page.get_by_role("link", name="Astrid Lövgren (demo)").first.click()
            expect(page).to_have_url(f"{base}/subjects/{known['astrid']}")
            expect(page.locator("h1")).to_contain_text("Astrid Lövgren (demo)")
            page.screenshot(path=SHOTS / "03-subject.png", full_page=True)

            # Listen to the recorded session.
            page.get_by_role("link", name="2025-10-09_10-00-00-samtal.ogg").click()
            player = page.locator("audio#player")
            expect(player).to_be_visible()
            page.evaluate("document.querySelector('#player').play()")
            until(page, "document.querySelector('#player').currentTime > 0", "did not play")
            duration = page.evaluate("document.querySelector('#player').duration")
            assert duration > 1
            # Skip ahead, as a coach looking for a moment in a session would.
            page.evaluate("document.querySelector('#player').currentTime = %f" % (duration * 0.7))
            until(
                page,
                "!document.querySelector('#player').seeking && "
                "document.querySelector('#player').currentTime >= %f" % (duration * 0.69),
                "could not seek",
            )
            page.screenshot(path=SHOTS / "04-recording.png", full_page=True)

            # Place a hold on the client.
            page.goto(f"/subjects/{known['astrid']}")
            form = page.locator("#hold-form")
            form.get_by_label("Kind").select_option("legal_hold")
            form.get_by_label("Reason").fill("Tvist om faktura")
            form.get_by_role("button", name="Place hold").click()
            expect(page.get_by_role("status")).to_contain_text("Hold placed")
            expect(page.locator("section", has_text="Holds")).to_contain_text("Tvist om faktura")

            # Make her export and download it.
            page.locator("#export-form").get_by_role("button", name="Make export").click()
            expect(page.get_by_role("status")).to_contain_text("Export ready")
            with page.expect_download() as download_info:
                page.get_by_role("link", name="Download export-").first.click()
            bundle = tmp_path / "bundle.zip"
            download_info.value.save_as(bundle)
            names = zipfile.ZipFile(bundle).namelist()
            assert any(n.endswith(".ogg") for n in names)
            assert any(n.endswith(".eml") for n in names)
            page.screenshot(path=SHOTS / "05-subject-after-export.png", full_page=True)

            # The same pages on a phone.
            phone = browser.new_context(
                base_url=base, viewport={"width": 390, "height": 844}, is_mobile=True
            )
            phone.add_cookies(cast(Any, context.cookies()))
            mobile = phone.new_page()
            mobile.goto(f"/subjects/{known['astrid']}")
            expect(mobile.locator("h1")).to_contain_text("Astrid")
            width = mobile.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
            mobile.screenshot(path=SHOTS / "06-subject-phone.png", full_page=True)
            phone.close()

            # Log out: the page is gone, and so is the session.
            page.get_by_role("button", name="Log out").click()
            expect(page).to_have_url(f"{base}/login")
            page.goto(f"/subjects/{known['astrid']}")
            expect(page).to_have_url(f"{base}/login")
        finally:
            context.close()
            browser.close()


NAMES = ("Дневник.txt", "日記.txt", "Łódź.pdf")


def test_downloads_keep_names_in_any_script(served: tuple[str, Cli, App], tmp_path: Path) -> None:
    """GIVEN a mail with attachments named in Cyrillic, Japanese and Polish WHEN the coach
    downloads each in Chromium THEN it is saved under its own name (RFC 6266), never a 500."""
    from email.message import EmailMessage
    from email.policy import SMTP

    from playwright.sync_api import sync_playwright
    from sqlmodel import select

    from models.tables import Item

    base, cli, gallra = served
    mail = EmailMessage()
    mail["From"], mail["To"] = "Astrid Lövgren <astrid.lovgren@example.se>", "coach@example.org"
    mail["Subject"], mail["Message-ID"] = "Filer med konstiga namn", "<names-1@example.se>"
    mail["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    mail.set_content("Här är filerna.")
    for n, name in enumerate(NAMES):
        mail.add_attachment(f"innehåll {n}".encode(), "application", "octet-stream", filename=name)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "names.eml").write_bytes(mail.as_bytes(policy=SMTP))
    assert cli("ingest", "mail", "--eml-dir", str(inbox)).code == 0
    with gallra.session() as session:
        ids_by_name = {i.title: i.id for i in session.exec(select(Item)) if i.title in NAMES}
    assert set(ids_by_name) == set(NAMES)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=QUIET)
        context = browser.new_context(base_url=base, accept_downloads=True, locale="sv-SE")
        page = context.new_page()
        try:
            page.goto("/login")
            page.get_by_label("Lösenord").fill(PASSWORD)
            page.get_by_role("button", name="Logga in").click()
            for name, item_id in ids_by_name.items():
                page.goto(f"/items/{item_id}")
                with page.expect_download() as download_info:
                    page.get_by_role("link", name="Ladda ner").click()
                download = download_info.value
                assert download.suggested_filename == name
                saved = tmp_path / f"saved-{item_id}"
                download.save_as(saved)
                assert saved.read_bytes().startswith("innehåll".encode())
        finally:
            context.close()
            browser.close()


def test_a_second_factor_in_chromium(served: tuple[str, Cli, App]) -> None:
    """GIVEN the coach enrolled a TOTP app with `gallra passwd --totp` WHEN she logs in in
    Chromium THEN the password alone, a wrong code and a replayed code are refused; the app's
    code and a recovery code (once) let her in."""
    import pyotp
    from playwright.sync_api import expect, sync_playwright

    base, cli, _ = served
    enrolled = cli("passwd", "--totp", "--json")
    assert enrolled.code == 0, enrolled.err
    data = enrolled.json()
    secret = pyotp.parse_uri(data["otpauth_uri"]).secret
    recovery = data["recovery_codes"][0]
    assert len(data["recovery_codes"]) == 10

    def attempt(page: Any, code: str) -> str:
        page.goto("/login")
        page.get_by_label("Lösenord").fill(PASSWORD)
        page.get_by_label("Kod från appen (om du använder en)").fill(code)
        page.get_by_role("button", name="Logga in").click()
        page.wait_for_load_state()
        url: str = page.url
        if url.rstrip("/") == base:
            page.get_by_role("button", name="Logga ut").click()
        return url

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=QUIET)
        page = browser.new_context(base_url=base, locale="sv-SE").new_page()
        try:
            assert attempt(page, "").endswith("failed=3")  # the password alone
            expect(page.get_by_role("alert")).to_contain_text("Koden saknades")
            assert attempt(
                page, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
            ).endswith("failed=3")
            code = pyotp.TOTP(secret).now()
            assert attempt(page, code).rstrip("/") == base  # the app's code
            assert attempt(page, code).endswith("failed=3")  # the same code again: a replay
            assert attempt(page, recovery).rstrip("/") == base  # a recovery code, once
            assert attempt(page, recovery).endswith("failed=3")
        finally:
            browser.close()

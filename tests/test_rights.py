"""Every data-subject right, on a person with e-mails, attachments, a recording, an
invoice under the bookkeeping rule and an e-mail shared with another client."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlmodel import col, select

from gallra import rights
from gallra.rights import Kept
from gallra.settings import get_settings
from gallra.wiring import App
from ingest.mail import RawMessage
from models.clock import FixedClock
from models.enums import LegalBasis, RequestRight
from models.tables import Item, ItemSubject, MarketingBlock, Request, Subject
from storage.errors import BlobNotFound
from storage.registry import NewIdentifier, add_subject, start_engagement
from storage.requests import deadline_for, extend_request, open_request
from storage.sweep import SweepOptions, run_sweep
from tests.conftest import Cli
from tests.factory import make_item

TODAY = date(2026, 11, 30)
PNR = "811218-9876"


def mail(
    frm: str,
    to: str,
    subject: str,
    *,
    cc: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = frm, to, subject
    if cc:
        msg["Cc"] = cc
    msg["Date"] = "Mon, 05 Jan 2026 10:00:00 +0100"
    msg["Message-ID"] = f"<{hashlib.sha256(subject.encode()).hexdigest()[:16]}@example.se>"
    msg.set_content(f"{subject}. Vi ses på torsdag.")
    if attachment:
        msg.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return msg.as_bytes(policy=SMTP)


@pytest.fixture
def practice(cli: Cli) -> tuple[App, dict[str, int]]:
    gallra = App(settings=get_settings(cli.home), clock=FixedClock.on(TODAY))
    with gallra.session() as s:
        astrid = add_subject(
            s, display_name="Astrid Lövgren", identifiers=[NewIdentifier.email("astrid@example.se")]
        )
        bertil = add_subject(
            s,
            display_name="Bertil Åkesson",
            identifiers=[NewIdentifier.email("bertil@example.org")],
        )
        assert astrid.id and bertil.id
        start_engagement(s, client_id=astrid.id, starts_on=date(2025, 9, 1))
        start_engagement(s, client_id=bertil.id, starts_on=date(2025, 9, 1))
    coach = "Coach <coach@example.org>"
    messages = [
        mail("Astrid Lövgren <astrid@example.se>", coach, "Tankar inför samtalet"),
        mail(
            "Astrid Lövgren <astrid@example.se>",
            coach,
            "Mina anteckningar",
            attachment=("anteckningar.pdf", b"%PDF-1.4 notes"),
        ),
        mail(
            coach,
            "astrid@example.se",
            "Faktura januari",
            attachment=("Faktura-2026-01.pdf", b"%PDF-1.4 invoice"),
        ),
        mail(
            "Astrid Lövgren <astrid@example.se>", coach, "Gemensamt möte", cc="bertil@example.org"
        ),
    ]
    with gallra.mail_ingestor(extra_own=("coach@example.org",)) as ingestor:
        summary = ingestor.ingest_batch(
            [RawMessage(m, "eml:test", str(i)) for i, m in enumerate(messages)]
        )
    assert summary.new == 4 and summary.attachments == 2
    with gallra.session() as s:
        make_item(
            s,
            gallra.blobs,
            gallra.policy,
            text="inspelat samtal",
            subjects=[astrid.id],
            kind=__import__("models.enums", fromlist=["ItemKind"]).ItemKind.RECORDING,
        )
        make_item(
            s,
            gallra.blobs,
            gallra.policy,
            text="omdöme till hemsidan",
            subjects=[astrid.id],
            purpose="consented",
            basis=LegalBasis.CONSENT,
        )
        make_item(
            s,
            gallra.blobs,
            gallra.policy,
            text="erbjudande",
            subjects=[astrid.id],
            purpose="marketing",
            basis=LegalBasis.LEGITIMATE_INTEREST,
        )
    rights.set_consent(gallra, subject_id=astrid.id, purpose="consented", given=True)
    return gallra, {"astrid": astrid.id, "bertil": bertil.id}


def items_of(gallra: App, subject_id: int) -> dict[int, Item]:
    with gallra.session() as s:
        linked = select(ItemSubject.item_id).where(ItemSubject.subject_id == subject_id)
        return {i.id: i for i in s.exec(select(Item).where(col(Item.id).in_(linked))) if i.id}


def titled(items: dict[int, Item], title: str) -> Item:
    return next(i for i in items.values() if i.title == title)


def test_access_export_matches_the_index_file_by_file(
    practice: tuple[App, dict[str, int]], tmp_path: Path
) -> None:
    gallra, who = practice
    held = items_of(gallra, who["astrid"])
    out = tmp_path / "utdrag.zip"
    result = rights.export(gallra, subject_id=who["astrid"], out=out)
    assert result.items == len(held) == 9  # 4 mails, 2 attachments, recording, consent, marketing
    with zipfile.ZipFile(out) as bundle:
        names = set(bundle.namelist())
        data = json.loads(bundle.read("data.json"))
        readme = bundle.read("README.html").decode()
        sums: dict[str, str] = {}
        for line in bundle.read("SHA256SUMS").decode().splitlines():
            digest, _, name = line.partition("  ")
            sums[name] = digest
        for name, digest in sums.items():
            assert hashlib.sha256(bundle.read(name)).hexdigest() == digest
    assert data["schema"] == "gallra.dsar/1"
    by_id = held
    assert {row["id"] for row in data["items"]} == set(by_id)
    for row in data["items"]:
        item = by_id[row["id"]]
        assert row["path"] in names and sums[row["path"]] == item.sha256 == row["sha256"]
        assert (row["purpose"], row["legal_basis"]) == (item.purpose, item.legal_basis)
        assert f"<td>{row['id']}</td>" in readme
    shared = titled(held, "Gemensamt möte").id
    assert result.also_about_others == [shared]
    portable = {row["title"] for row in data["items"] if row["portable"]}
    assert "Tankar inför samtalet" in portable and "Faktura januari" not in portable
    assert "Integritetsskyddsmyndigheten" in readme and "Access report" in readme
    # The Swedish half names every value in Swedish; the English half in English.
    swedish, english = readme.split('<section lang="en">')
    assert "Registerutdrag för Astrid Lövgren" in swedish
    for word in ("e-post", "avtal", "rättslig förpliktelse", "en mapp på mottagningens egen dator"):
        assert word in swedish, word
    for word in ("<td>email</td>", "<td>contract</td>", "legal_obligation", "storage processor"):
        assert word not in swedish, word
    assert "<td>e-mail</td>" in english and "legal obligation" in english
    assert data["recipients"] == ["storage processor: local"]
    export_item = titled(items_of(gallra, who["astrid"]), f"export-{who['astrid']}-{TODAY}.zip")
    assert export_item.rule_id == "rights-request"
    only = rights.export(
        gallra, subject_id=who["astrid"], out=tmp_path / "portable.zip", portable_only=True
    )
    assert only.items == len(portable)


def test_a_failed_export_leaves_no_zip(
    practice: tuple[App, dict[str, int]], tmp_path: Path
) -> None:
    gallra, who = practice
    victim = titled(items_of(gallra, who["astrid"]), "Mina anteckningar")
    gallra.blobs.delete([victim.blob_key])
    exports = tmp_path / "exports"
    exports.mkdir()
    with pytest.raises(BlobNotFound):
        rights.export(gallra, subject_id=who["astrid"], out=exports / "utdrag.zip")
    assert list(exports.iterdir()) == []  # neither the zip nor a partial file


def test_erasure_keeps_exactly_the_invoice_and_the_shared_mail_and_says_why(
    practice: tuple[App, dict[str, int]],
) -> None:
    gallra, who = practice
    before = items_of(gallra, who["astrid"])
    dry = rights.erase(gallra, subject_id=who["astrid"], dry_run=True)
    assert len(dry.deleted) == 7 and len(items_of(gallra, who["astrid"])) == 9
    cert = rights.erase(gallra, subject_id=who["astrid"])
    kept: dict[int | None, Kept] = {k.item_id: k for k in cert.kept}
    invoice = titled(before, "Faktura-2026-01.pdf").id
    shared = titled(before, "Gemensamt möte").id
    assert set(kept) == {invoice, shared}
    assert kept[invoice].why.startswith("a legal obligation (bokföringslagen")
    assert kept[invoice].deletable_from == "2034-01-01"
    assert kept[shared].why == "another person's agreement still needs it"
    assert len(cert.deleted) == 7 and all(d["verified"] for d in cert.deleted)
    with gallra.session() as s:
        assert {i.id for i in s.exec(select(Item))} == {invoice, shared}
        assert [
            link.subject_id
            for link in s.exec(select(ItemSubject).where(ItemSubject.item_id == shared))
        ] == [who["bertil"]]
        assert s.get(Subject, who["astrid"]) is not None  # the invoice still names its payer
        request = s.get(Request, cert.request_id)
        assert request is not None and request.status == "done" and request.right == "erasure"
    text = json.dumps(asdict(cert), ensure_ascii=False)
    for personal in ("Astrid", "Lövgren", "astrid@example.se", PNR, "bertil"):
        assert personal not in text


def test_consent_withdrawal_and_objection_change_exactly_their_items(
    practice: tuple[App, dict[str, int]],
) -> None:
    gallra, who = practice
    before = items_of(gallra, who["astrid"])
    withdrawn = rights.set_consent(
        gallra, subject_id=who["astrid"], purpose="consented", given=False
    )
    assert withdrawn.deleted == 1
    gone = set(before) - set(items_of(gallra, who["astrid"]))
    assert [before[i].purpose for i in gone] == ["consented"]
    objected = rights.object_to_marketing(gallra, subject_id=who["astrid"])
    assert objected.deleted == 1
    gone = set(before) - set(items_of(gallra, who["astrid"]))
    assert sorted(before[i].purpose for i in gone) == ["consented", "marketing"]
    with gallra.session() as s:
        remaining = {i.purpose for i in s.exec(select(Item))}
        assert "marketing" not in remaining and "consented" not in remaining
        assert len(list(s.exec(select(MarketingBlock)))) == 1
    with pytest.raises(Exception, match="no consent for consented"):
        rights.set_consent(gallra, subject_id=who["astrid"], purpose="consented", given=False)


def test_request_deadlines_extension_and_access_hold(practice: tuple[App, dict[str, int]]) -> None:
    gallra, who = practice
    assert deadline_for(date(2026, 1, 31)) == date(2026, 2, 28)
    assert deadline_for(date(2026, 1, 31), extended=True) == date(2026, 4, 30)
    with gallra.session() as s:
        request = open_request(
            s, subject_id=who["astrid"], right=RequestRight.ACCESS, received_on=date(2026, 11, 30)
        )
        assert request.deadline == date(2026, 12, 30) and request.id
        extended = extend_request(s, request_id=request.id, reason="many recordings to review")
        assert extended.deadline == date(2027, 2, 28)
        with pytest.raises(Exception, match="already extended once"):
            extend_request(s, request_id=request.id, reason="again")
    # Her marketing item would go on objection; the open access request holds everything.
    with gallra.session() as s:
        subject = s.get(Subject, who["astrid"])
        assert subject
        subject.marketing_blocked_on = TODAY
        s.add(subject)
    result = run_sweep(
        gallra.engine, gallra.blobs, gallra.policy, FixedClock.on(TODAY), options=SweepOptions()
    )
    assert result.deleted == 0 and result.held_past_expiry == 1


def test_rectification_is_recorded_without_values(cli: Cli) -> None:
    added = cli(
        "subject", "add", "--name", "Ceclia Öberg", "--email", "c@example.net", "--json"
    ).json()
    edited = cli(
        "subject",
        "edit",
        str(added["id"]),
        "--name",
        "Cecilia Öberg",
        "--add-email",
        "cecilia@example.net",
        "--personnummer",
        PNR,
        "--json",
    )
    assert edited.code == 0, edited.err
    assert edited.json()["changed"] == ["name", "email added", "personnummer set"]
    shown = cli("subject", "show", str(added["id"]), "--json").json()
    assert shown["name"] == "Cecilia Öberg" and len(shown["identifiers"]) == 3
    requests = cli("requests", "--json").json()
    assert requests == []  # the rectification was recorded and closed at once

"""One tagging path: a batch is tagged exactly as each of its messages would be alone."""

from __future__ import annotations

import tempfile
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from ingest.mail import MailIngestor, RawMessage
from ingest.tagging import TaggingRules
from models.clock import FixedClock
from models.policy import Policy, load_policy
from models.tables import Identifier, Item, ItemSubject
from storage.engine import make_engine, migrate
from storage.local import LocalBlobStore

POOL = [
    "coach@example.org",  # the practice's own address
    "astrid@exempel.se",
    "Astrid@Exempel.se",  # the same person, written otherwise
    "bertil@exempel.se",
    "cecilia@exempel.se",
    "nyhetsbrev@utskick.example",  # a configured bulk domain
]
RULES = TaggingRules.build(
    own_addresses=["coach@example.org"],
    bulk_domains=["utskick.example"],
    accounting_patterns=["faktura", "kvitto"],
)
MESSAGES = st.lists(
    st.fixed_dictionaries(
        {
            "from": st.sampled_from(POOL),
            "to": st.lists(st.sampled_from(POOL), min_size=1, max_size=3),
            "cc": st.lists(st.sampled_from(POOL), max_size=2),
            "list": st.booleans(),
            "attachments": st.lists(
                st.sampled_from(["faktura-12.pdf", "bilaga.pdf", "Kvitto.png"]), max_size=2
            ),
        }
    ),
    min_size=1,
    max_size=8,
)


def _raw(n: int, spec: dict[str, Any]) -> bytes:
    msg = EmailMessage()
    msg["From"] = spec["from"]
    msg["To"] = ", ".join(spec["to"])
    if spec["cc"]:
        msg["Cc"] = ", ".join(spec["cc"])
    if spec["list"]:
        msg["List-Id"] = "<medlemmar.exempel.se>"
    msg["Subject"] = f"Meddelande {n}"
    msg["Message-ID"] = f"<prop-{n}@exempel.se>"
    msg["Date"] = "Mon, 02 Nov 2026 10:00:00 +0100"
    msg.set_content(f"Text {n}")
    for index, name in enumerate(spec["attachments"]):
        msg.add_attachment(f"{n}-{index}".encode(), maintype="application",
                           subtype="octet-stream", filename=name)  # fmt: skip
    return msg.as_bytes(policy=SMTP)


def _ingest(root: Path, policy: Policy, batches: list[list[RawMessage]]) -> dict[str, Any]:
    """Everything tagging decided, keyed by content and address (ids differ between runs)."""
    engine = make_engine(f"sqlite:///{root / 'index.db'}")
    migrate(engine)
    clock = FixedClock.on(date(2026, 11, 3))
    with MailIngestor(engine, LocalBlobStore(root / "blobs"), policy, RULES, clock) as ingestor:
        for batch in batches:
            ingestor.ingest_batch(batch)
    with Session(engine) as s:
        address = {i.subject_id: i.value for i in s.exec(select(Identifier))}
        items = {i.id: i for i in s.exec(select(Item))}
        parents = {i.id: i.sha256 for i in items.values() if i.kind == "email"}
        decided: dict[str, Any] = {}
        for item in items.values():
            key = item.sha256 if item.kind == "email" else f"{parents[item.parent_id]}/{item.title}"
            links = sorted(
                (address[link.subject_id], link.role)
                for link in s.exec(select(ItemSubject).where(ItemSubject.item_id == item.id))
            )
            decided[key] = (item.kind, item.parse_status, item.purpose, item.legal_basis,
                            item.rule_id, item.provided_by_subject, links)  # fmt: skip
        decided["people"] = sorted(address.values())
    engine.dispose()
    return decided


@settings(max_examples=25, deadline=None)
@given(specs=MESSAGES)
def test_a_batch_is_tagged_as_each_message_alone(specs: list[dict[str, Any]]) -> None:
    """GIVEN messages with own addresses, one person written two ways, bulk mail and
    invoices WHEN they are ingested as one batch and, elsewhere, one at a time THEN every
    link, role, rule, status, attachment and registered person is the same."""
    policy = load_policy()
    raws = [RawMessage(_raw(n, spec), "test", str(n)) for n, spec in enumerate(specs)]
    with tempfile.TemporaryDirectory() as tmp:
        together = _ingest(Path(tmp) / "batch", policy, [raws])
        alone = _ingest(Path(tmp) / "alone", policy, [[raw] for raw in raws])
    assert together == alone
    assert "coach@example.org" not in together["people"]

"""Invented test mail (no real people)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

FIRST = ["Astrid", "Bertil", "Cecilia", "Dag", "Ebba", "Folke", "Greta", "Hugo"]
LAST = ["Lövgren", "Åkesson", "Öberg", "Ek", "Nyström", "Holm"]


def person(n: int) -> tuple[str, str]:
    """An invented name and address."""
    first, last = FIRST[n % len(FIRST)], LAST[n % len(LAST)]
    return f"{first} {last}", f"{first.lower()}.{n}@example.se"


def message(
    n: int,
    *,
    to: str = "coach@example.org",
    attachment: bytes | None = None,
    attachment_name: str = "bilaga.pdf",
    body: str | None = None,
) -> bytes:
    """Message number `n` from an invented client, with Swedish text."""
    name, address = person(n)
    msg = EmailMessage()
    msg["From"] = f"{name} <{address}>"
    msg["To"] = to
    msg["Subject"] = f"Inför sessionen nr {n}: några tankar"
    msg["Date"] = format_datetime(datetime(2026, 1, 1, 9, tzinfo=UTC) + timedelta(hours=n))
    msg["Message-ID"] = make_msgid(idstring=f"gallra-test-{n}", domain="example.se")
    msg.set_content(
        body or f"Hej! Det här är meddelande {n}. Jag har funderat på målen vi satte.\n"
    )
    if attachment is not None:
        msg.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename=attachment_name
        )
    return msg.as_bytes(policy=SMTP)

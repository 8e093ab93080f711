"""Parsing never trusts a header: Swedish encoded words, broken charsets, hostile names."""

from __future__ import annotations

import base64
import email.message
import random
import re

import pytest

from ingest.headers import safe_filename
from ingest.mime_split import decoded_payload, delimiter_lines
from ingest.parse import html_to_text, parse_message

SWEDISH = (
    b"From: =?utf-8?q?=C3=85sa_=C3=96berg?= <asa.oberg@example.se>\r\n"
    b"To: coach@example.org\r\n"
    b"Subject: =?iso-8859-1?q?M=F6te_p=E5_m=E5ndag_=E4r_inst=E4llt?=\r\n"
    b"Date: Mon, 02 Mar 2026 09:15:00 +0100\r\n"
    b"Message-ID: <m1@example.se>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Hej! Jag k=E4nner mig b=E4ttre.\r\n"
    b"--XX\r\nContent-Type: application/pdf\r\n"
    b"Content-Disposition: attachment; filename*=UTF-8''Faktura%20%C3%A5%C3%A4%C3%B6.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n"
)


def test_swedish_headers_body_and_filename_survive() -> None:
    parsed = parse_message(SWEDISH)
    assert parsed.subject == "Möte på måndag är inställt"
    assert parsed.senders[0].name == "Åsa Öberg"
    assert parsed.senders[0].address == "asa.oberg@example.se"
    assert "Jag känner mig bättre" in parsed.text
    assert [a.filename for a in parsed.attachments] == ["Faktura åäö.pdf"]
    assert parsed.attachments[0].data.startswith(b"%PDF")
    assert parsed.problems == [] and parsed.fatal is None
    assert parsed.date is not None and parsed.date.isoformat() == "2026-03-02T08:15:00+00:00"


def test_unknown_charset_and_unlisted_recipients_cost_only_that_part() -> None:
    raw = (
        b"From: a@example.se\r\nTo: unlisted-recipients:; (no To-header on input)\r\n"
        b'Subject: x\r\nContent-Type: text/plain; charset="yes"\r\n\r\nHall\xe5 d\xe4r\r\n'
    )
    parsed = parse_message(raw)
    assert parsed.to == []
    assert "Hallå där" in parsed.text
    assert any("charset 'yes'" in p for p in parsed.problems)


def test_no_date_and_no_message_id_are_left_empty_for_the_pipeline() -> None:
    parsed = parse_message(b"From: a@example.se\r\n\r\nbody")
    assert parsed.date is None and parsed.message_id is None


def test_html_is_reduced_to_visible_text() -> None:
    html = (
        "<html><head><style>p{}</style><script>alert(1)</script></head>"
        "<body><p>Hej <b>Åsa</b></p></body>"
    )
    assert html_to_text(html) == "Hej Åsa"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/absolute/path.pdf", "path.pdf"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("..", "attachment"),
        ("", "attachment"),
        ("=?utf-8?q?Kvitto_=C3=A5r_2025.pdf?=", "Kvitto år 2025.pdf"),
    ],
)
def test_hostile_attachment_names_never_become_paths(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_very_long_names_are_cut_keeping_the_extension() -> None:
    name = safe_filename("a" * 200 + ".pdf")
    assert len(name) <= 120 and name.endswith(".pdf") and "/" not in name


def test_raw_utf8_and_latin1_headers_keep_their_letters() -> None:
    """GIVEN headers written as raw 8-bit bytes (RFC 6532) THEN å ä ö survive, not U+FFFD."""
    utf8 = parse_message(
        "From: Åsa Öberg <asa@example.se>\nSubject: Meddelande utan avsändare\n\nhej\n".encode()
    )
    assert utf8.subject == "Meddelande utan avsändare"
    assert utf8.senders[0].name == "Åsa Öberg"
    latin1 = parse_message(b"Subject: M\xf6te p\xe5 m\xe5ndag\n\nhej\n")
    assert latin1.subject == "Möte på måndag"
    mixed = parse_message("Subject: Svar: =?utf-8?q?M=C3=B6te?= på fredag\n\nhej\n".encode())
    assert mixed.subject == "Svar: Möte på fredag"


def test_boundary_lines_are_found_as_the_regular_expression_finds_them() -> None:
    """GIVEN 20,000 random bodies of line breaks, dashes, blanks and boundary pieces
    THEN the find-based splitter marks exactly the delimiter lines the RFC 2046
    regular expression marks (an empty part, a CRLF shared by two lines, a
    boundary that is the prefix of a longer word, a close with trailing blanks)."""
    boundary = b"b0=_x"
    oracle = re.compile(rb"(?:\r?\n|\A)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    pieces = [b"\r", b"\n", b"\r\n", b"--", b"-", b" ", b"\t", b"x", b"--" + boundary, boundary]
    rng = random.Random(2046)
    for _ in range(20_000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        expected = [(m.start(), m.end(), m.group(1) is not None) for m in oracle.finditer(body)]
        assert delimiter_lines(body, boundary) == expected, body


def _base64_part(payload: str, encoding: str = "base64") -> email.message.Message:
    part = email.message.Message()
    part["Content-Type"] = "application/octet-stream"
    part["Content-Transfer-Encoding"] = encoding
    part.set_payload(payload)
    return part


def test_base64_attachments_decode_as_the_standard_library_decodes_them() -> None:
    """GIVEN 20,000 base64 payloads: valid ones with LF, CRLF and bare CR line
    breaks, and ones broken by a wrong length, a missing or misplaced '=', a
    space, a NUL, an 8-bit byte, characters outside the alphabet, non-canonical
    last bits, or an encoding spelled differently
    THEN the fast path returns exactly what `get_payload(decode=True)` returns."""
    rng = random.Random(4648)
    pieces = ["\n", "\r\n", "\r", "=", "==", " ", "\x00", "\udcff", "-", "_", "A", "Q", "/+"]
    checked_fast = 0
    for n in range(20_000):
        data = rng.randbytes(rng.randint(0, 300))
        text = base64.encodebytes(data).decode("ascii")
        if n % 3 == 1:
            text = text.replace("\n", rng.choice(["\r\n", "\r", ""]))
        if n % 3 == 2:  # damage it somewhere
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(pieces) + text[at + rng.randint(0, 2) :]
        encoding = "base64" if n % 50 else rng.choice(["BASE64", "base64 ", "7bit"])
        part = _base64_part(text, encoding)
        expected = part.get_payload(decode=True)
        assert decoded_payload(part) == expected, (text, encoding)
        checked_fast += n % 3 != 2 and encoding == "base64"
    assert checked_fast > 10_000


def test_large_base64_attachment_is_decoded_whole() -> None:
    """GIVEN a 3 MB attachment in a message THEN its decoded bytes are the original ones."""
    data = random.Random(3).randbytes(3_000_000)
    message = email.message.EmailMessage()
    message["From"] = "Ada Lind <ada.lind@example.se>"
    message.set_content("Hej")
    message.add_attachment(data, maintype="application", subtype="pdf", filename="faktura.pdf")
    parsed = parse_message(message.as_bytes())
    assert [a.data for a in parsed.attachments] == [data]

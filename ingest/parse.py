"""Defensive MIME parsing: never trusts a header, never raises on a message.

Parsing uses the lenient compat32 policy and decodes each header and each
part on its own, so a broken header (``To: unlisted-recipients:;``), an
unknown charset (``charset="yes"``) or a missing end boundary costs that
header or part, recorded as a problem, not the message. Problems name the
header or part, never its content.

Over 300 lines because the fast paths and the feed parser's path must give the
same ParsedMessage and are compared side by side.
"""

from __future__ import annotations

import binascii
import email
import email.parser
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from functools import cached_property
from html.parser import HTMLParser
from typing import ClassVar

from ingest.headers import (
    LENIENT,
    Address,
    decode_bytes,
    decode_header_value,
    header_values,
    parse_addresses,
    parse_date,
    safe_filename,
)
from ingest.mime_split import HEADER_END, decoded_payload, multipart_tree

__all__ = [
    "MAX_PARSE_BYTES",
    "Attachment",
    "ParsedMessage",
    "html_body",
    "html_to_text",
    "is_body",
    "parse_message",
]


@dataclass(frozen=True)
class Attachment:
    """An attachment's safe name, type and decoded bytes."""

    filename: str
    content_type: str
    data: bytes

    @cached_property
    def sha256(self) -> str:
        """The bytes' sha256, hashed once (and pickled with the attachment once hashed)."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class ParsedMessage:
    """What could be read from a message."""

    message_id: str | None = None
    date: datetime | None = None
    subject: str = ""
    senders: list[Address] = field(default_factory=list)  # From
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    list_id: str | None = None
    precedence: str | None = None
    auto_submitted: str | None = None
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fatal: str | None = None  # set when the body could not be parsed at all

    def participants(self) -> list[tuple[str, Address]]:
        """(role, address) for every From, To, Cc and Reply-To address."""
        return [
            *(("from", a) for a in self.senders),
            *(("to", a) for a in self.to),
            *(("cc", a) for a in self.cc),
            *(("reply-to", a) for a in self.reply_to),
        ]


class _TextExtractor(HTMLParser):
    _SKIP: ClassVar[frozenset[str]] = frozenset({"script", "style", "head", "title"})
    _BREAK: ClassVar[frozenset[str]] = frozenset(
        {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body (scripts and styles dropped), for search."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (AssertionError, ValueError):
        pass
    text = "".join(extractor.parts)
    return re.sub(r"[ \t\r\f\v]+", " ", re.sub(r"\n\s*\n+", "\n\n", text)).strip()


def _part_text(part: Message, problems: list[str], where: str) -> str | None:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, AssertionError, TypeError):
        problems.append(f"{where}: undecodable transfer encoding")
        return None
    if not isinstance(payload, bytes):
        return None
    charset = part.get_content_charset()
    text, replaced = decode_bytes(payload, charset)
    if replaced:
        problems.append(f"{where}: charset {charset!r} unknown or wrong; decoded with a fallback")
    return text


MAX_PARSE_BYTES = 50 * 1024 * 1024  # mail.max_parse_mb's default


def parse_message(raw: bytes, *, max_bytes: int = MAX_PARSE_BYTES) -> ParsedMessage:
    """Read what can be read from `raw`; never raises on malformed input.

    A message the MIME parser cannot take at all (e.g. multiparts nested
    past Python's recursion limit) is read for its headers only and marked
    `fatal`, so it is still tagged and listed as a parse error. A message
    over `max_bytes` is read for its headers only and flagged: the parser
    holds several copies of what it parses, and the raw bytes are stored
    whole either way.
    """
    if len(raw) > max_bytes:
        return _headers_only(raw, max_bytes)
    try:
        fast = _single_text_part(raw)
        if fast is not None:
            return fast
        tree = multipart_tree(raw)
        if tree is not None:
            return _parse(tree)
    except (LookupError, ValueError, TypeError, AttributeError, IndexError, RecursionError):
        pass  # the full parser below reads it, or records why it cannot
    try:
        return _parse(email.message_from_bytes(raw, policy=LENIENT))
    except (RecursionError, LookupError, ValueError, TypeError, AttributeError, IndexError) as exc:
        headers = email.parser.BytesHeaderParser(policy=LENIENT).parsebytes(raw)
        parsed = _parse_headers(headers, ParsedMessage())
        parsed.fatal = f"MIME structure unreadable ({type(exc).__name__})"
        parsed.problems.append(f"message: {parsed.fatal}")
        return parsed


def _headers_only(raw: bytes, max_bytes: int) -> ParsedMessage:
    """The header block of an oversized message (its body is neither copied nor parsed)."""
    end = HEADER_END.search(raw, 0, min(len(raw), 1024 * 1024))
    block = raw[: end.start()] if end is not None else raw[: 64 * 1024]
    parsed = _parse_headers(
        email.parser.BytesHeaderParser(policy=LENIENT).parsebytes(block + b"\n\n"),
        ParsedMessage(),
    )
    megabytes = len(raw) / (1024 * 1024)
    parsed.problems.append(
        f"message: {megabytes:.0f} MB, over mail.max_parse_mb ({max_bytes // (1024 * 1024)}): "
        "stored whole, headers indexed, body and attachments not parsed"
    )
    return parsed


def _single_text_part(raw: bytes) -> ParsedMessage | None:
    """A one-part text message read without the feed parser; None when it needs the full one.

    Python's feed parser handles a body line by line (~1 µs a line: most of the
    ingest time of a mailbox of long letters). A message that is a single
    text/plain or text/html part, whose headers parse without a defect and
    whose transfer encoding decodes cleanly, gives the same result when its
    body is decoded in one call. Anything else goes to the full parser.
    """
    end = HEADER_END.search(raw)
    if end is None:
        return None
    head = email.parser.BytesHeaderParser(policy=LENIENT).parsebytes(raw[: end.start()] + b"\n\n")
    if head.defects or not is_body(head, head.get_filename()):
        return None
    encoding = str(head.get("Content-Transfer-Encoding") or "7bit").strip().lower()
    body = raw[end.end() :]
    if encoding in ("7bit", "8bit", "binary"):
        payload = body
    elif encoding == "quoted-printable":
        payload = binascii.a2b_qp(body)
    elif encoding == "base64":
        try:
            payload = binascii.a2b_base64(body)
        except binascii.Error:
            return None
    else:
        return None
    parsed = _parse_headers(head, ParsedMessage())
    charset = head.get_content_charset()
    text, replaced = decode_bytes(payload, charset)
    if replaced:
        parsed.problems.append(
            f"part 0: charset {charset!r} unknown or wrong; decoded with a fallback"
        )
    if head.get_content_type() == "text/html":
        text = html_to_text(text)
    parsed.text = text.replace("\x00", "")
    return parsed


def _parse_headers(message: Message, parsed: ParsedMessage) -> ParsedMessage:
    problems = parsed.problems

    ids = header_values(message, "Message-ID")
    if ids:
        value = decode_header_value(ids[0]).strip()
        parsed.message_id = value[:998] or None
    parsed.date = parse_date(header_values(message, "Date"), problems)
    subjects = header_values(message, "Subject")
    parsed.subject = decode_header_value(subjects[0])[:998] if subjects else ""
    parsed.senders = parse_addresses(header_values(message, "From"), problems, "From")
    parsed.to = parse_addresses(header_values(message, "To"), problems, "To")
    parsed.cc = parse_addresses(header_values(message, "Cc"), problems, "Cc")
    parsed.reply_to = parse_addresses(header_values(message, "Reply-To"), problems, "Reply-To")
    for attr, header in (
        ("list_id", "List-Id"),
        ("precedence", "Precedence"),
        ("auto_submitted", "Auto-Submitted"),
    ):
        values = header_values(message, header)
        if values:
            setattr(parsed, attr, decode_header_value(values[0]).lower())
    return parsed


def _parse(message: Message) -> ParsedMessage:
    parsed = ParsedMessage()
    problems = parsed.problems
    for defect in message.defects:
        problems.append(f"message: {type(defect).__name__}")
    _parse_headers(message, parsed)

    plain: list[str] = []
    html: list[str] = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        for defect in part.defects:
            problems.append(f"part {index}: {type(defect).__name__}")
        where = f"part {index}"
        content_type = part.get_content_type()
        try:
            filename = part.get_filename()
        except (ValueError, LookupError, TypeError):
            filename = None
            problems.append(f"{where}: unreadable filename")
        if is_body(part, filename):
            text = _part_text(part, problems, where)
            if text is not None:
                (plain if content_type == "text/plain" else html).append(text)
            continue
        if content_type == "message/rfc822" and not filename:
            continue  # walk() descends into the embedded message
        try:
            data = decoded_payload(part)
        except (ValueError, AssertionError, TypeError):
            problems.append(f"{where}: undecodable attachment")
            continue
        if not isinstance(data, bytes) or not data:
            continue
        parsed.attachments.append(
            Attachment(safe_filename(filename, fallback=f"part-{index}"), content_type, data)
        )
    body = "\n\n".join(plain) if plain else "\n\n".join(html_to_text(h) for h in html)
    parsed.text = body.replace("\x00", "")
    return parsed


def is_body(part: Message, filename: str | None) -> bool:
    """Whether a part is the message's text (plain or HTML, not named, not an attachment)."""
    if part.get_content_type() not in ("text/plain", "text/html") or filename:
        return False
    return "attachment" not in (part.get("Content-Disposition") or "").lower()


def html_body(raw: bytes) -> str | None:
    """The first HTML body part of a message, decoded (for display); None without one."""
    try:
        message = email.message_from_bytes(raw, policy=LENIENT)
        for part in message.walk():
            if part.get_content_type() == "text/html" and is_body(part, part.get_filename()):
                return _part_text(part, [], "html")
    except (RecursionError, LookupError, ValueError, TypeError, AttributeError, IndexError):
        return None
    return None

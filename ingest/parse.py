"""Defensive MIME parsing: never trusts a header, never raises on a message.

Parsing uses the lenient compat32 policy and decodes each header and each
part on its own, so a broken header (``To: unlisted-recipients:;``), an
unknown charset (``charset="yes"``) or a missing end boundary costs that
header or part, recorded as a problem, not the message. Problems name the
header or part, never its content.
"""

from __future__ import annotations

import binascii
import email
import email.header
import email.message
import email.parser
import email.utils
import hashlib
import io
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.policy import Compat32
from functools import cached_property
from html.parser import HTMLParser
from typing import ClassVar

import pybase64

__all__ = [
    "Attachment",
    "ParsedMessage",
    "decoded_payload",
    "exit_with_parent",
    "html_body",
    "html_to_text",
    "parse_many",
    "parse_message",
    "safe_filename",
    "start_parse_worker",
]

_FALLBACK_CHARSETS = ("utf-8", "cp1252", "latin-1")
_ADDR_SPEC = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_MAX_NAME = 120
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class Address:
    """A display name and a lower-cased address."""

    name: str
    address: str


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


class _Lenient(Compat32):
    """compat32, but a header of raw 8-bit bytes is read as text, never as a Header object.

    compat32 hands such a header (RFC 6532 UTF-8, or Latin-1 written raw by an
    old mailer) back as a Header in the 'unknown-8bit' charset: str() of it
    turns every such byte into U+FFFD, and the callers that expect a str
    (`get_filename`, `get('Content-Disposition').lower()`) raise. Here it is
    decoded as UTF-8, else Windows-1252, like a body without a charset.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # surrogate-escaped raw bytes
            raw = value.encode("ascii", "surrogateescape")
            return _NEWLINES.sub(" ", _decode_bytes(raw, None)[0]).strip()
        return str(super().header_fetch_parse(name, value))


LENIENT = _Lenient()


def _decode_bytes(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Text of `data`; the flag is True when the declared charset had to be replaced."""
    if charset:
        try:
            return data.decode(charset), False
        except (LookupError, UnicodeDecodeError, ValueError):
            pass
    for candidate in _FALLBACK_CHARSETS:
        try:
            return data.decode(candidate), bool(charset)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1", errors="replace"), True  # unreachable: latin-1 decodes all


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_NEWLINES = re.compile(r"\s*\r?\n\s*")
# An addr-spec as it can appear inside a display name (to flag a name that shows another).
_ADDRESS_IN_TEXT = re.compile(r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    """The bytes of one encoded word's text (B or Q), None when they do not decode."""
    data = text.encode("ascii", "surrogateescape")
    try:
        if encoding in "bB":
            return binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)
        return binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError):
        return None


def decode_header_value(raw: str) -> str:
    """RFC 2047 encoded words decoded with charset fallbacks; folding removed; never raises.

    Whitespace between two encoded words is dropped (RFC 2047 6.2), any other
    is kept: "Re: =?utf-8?q?M=C3=B6te?=" is "Re: Möte", not "Re:Möte".
    Adjacent words in one charset are decoded together, so a letter a sender
    split across two words comes out whole. A word that does not decode is
    kept as it was written.
    """
    text = _FOLDING.sub("", raw)
    parts: list[str] = []
    pending: list[bytes] = []  # bytes of adjacent encoded words in `charset`
    charset = ""
    last_was_word = False
    position = 0

    def flush() -> None:
        if pending:
            parts.append(_decode_bytes(b"".join(pending), charset)[0])
            pending.clear()

    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        position = match.end()
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            flush()
            parts.append(between + match.group(0))
            last_was_word = False
            continue
        word_charset = match.group(1).partition("*")[0].lower()  # RFC 2231 language dropped
        if not (last_was_word and not between.strip()):
            flush()
            parts.append(between)
        elif word_charset != charset:
            flush()
        charset = word_charset
        pending.append(data)
        last_was_word = True
    flush()
    parts.append(text[position:])
    return _NEWLINES.sub(" ", "".join(parts)).strip()


def _raw_header(message: Message, name: str) -> list[str]:
    """A header's values as text (the lenient policy already decoded raw 8-bit bytes)."""
    return [v if isinstance(v, str) else str(v) for v in message.get_all(name) or []]


def _addresses(values: list[str], problems: list[str], header: str) -> list[Address]:
    """The addresses of an address header, parsed before any encoded word is decoded.

    RFC 2047 forbids an encoded word from being an address or carrying the
    specials that delimit one, so the list is split and each addr-spec read on
    the text as it came; only then are the display names decoded. A name that
    decodes to another address is flagged: it is never what ties the message
    to a person, the addr-spec is.
    """
    found: list[Address] = []
    unfolded = [_FOLDING.sub("", value) for value in values]
    try:
        pairs = email.utils.getaddresses(unfolded)
    except (ValueError, IndexError, TypeError, RecursionError):
        # Python's address parser recurses per entry: a huge header overflows it.
        problems.append(f"header {header}: unparseable address list; addresses scanned")
        pairs = [("", match) for value in unfolded for match in _ADDR_SPEC.findall(value)]
    for raw_name, raw_address in pairs:
        address = raw_address.strip().strip("<>").lower()
        name = decode_header_value(raw_name)
        if "@" not in address or " " in address or _ENCODED_WORD.search(address):
            if address or name:
                problems.append(f"header {header}: an entry is not an address")
            continue
        shown = {a.lower() for a in _ADDRESS_IN_TEXT.findall(name)}
        if shown - {address}:
            problems.append(
                f"header {header}: a display name shows another address than its own; "
                "tied by the address only"
            )
        found.append(Address(name.strip(), address))
    return found


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


def safe_filename(name: str | None, *, fallback: str = "attachment") -> str:
    """A name that can never act as a path: no directories, NUL, controls; bounded length."""
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", decode_header_value(name))
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip().lstrip(".").strip()
    if not name:
        return fallback
    if len(name) > _MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot and len(ext) <= 16 else ""
        name = (stem if dot else name)[: _MAX_NAME - len(ext) - 1] + ("." + ext if ext else "")
    return name


def _part_text(part: Message, problems: list[str], where: str) -> str | None:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, AssertionError, TypeError):
        problems.append(f"{where}: undecodable transfer encoding")
        return None
    if not isinstance(payload, bytes):
        return None
    charset = part.get_content_charset()
    text, replaced = _decode_bytes(payload, charset)
    if replaced:
        problems.append(f"{where}: charset {charset!r} unknown or wrong; decoded with a fallback")
    return text


def _date(values: list[str], problems: list[str]) -> datetime | None:
    if not values:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(decode_header_value(values[0]))
    except (TypeError, ValueError, IndexError):
        problems.append("header Date: unparseable")
        return None
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
        tree = _multipart_tree(raw)
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
    end = _HEADER_END.search(raw, 0, min(len(raw), 1024 * 1024))
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
    end = _HEADER_END.search(raw)
    if end is None:
        return None
    head = email.parser.BytesHeaderParser(policy=LENIENT).parsebytes(raw[: end.start()] + b"\n\n")
    if head.defects or head.get_content_type() not in ("text/plain", "text/html"):
        return None
    if head.get_filename() or "attachment" in (head.get("Content-Disposition") or "").lower():
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
    text, replaced = _decode_bytes(payload, charset)
    if replaced:
        parsed.problems.append(
            f"part 0: charset {charset!r} unknown or wrong; decoded with a fallback"
        )
    if head.get_content_type() == "text/html":
        text = html_to_text(text)
    parsed.text = text.replace("\x00", "")
    return parsed


def _headers_and_body(
    buf: bytes, start: int = 0, end: int | None = None
) -> tuple[Message, int] | None:
    """The header block of buf[start:end] parsed, and where its body starts; None when the
    headers need the full parser. Nothing but the header block is copied."""
    stop = len(buf) if end is None else end
    found = _HEADER_END.search(buf, start, stop)
    if found is None:
        return None
    head = email.parser.BytesHeaderParser(policy=LENIENT).parsebytes(
        buf[start : found.start()] + b"\n\n"
    )
    if head.defects:
        return None
    return head, found.end()


def _multipart_tree(
    raw: bytes, start: int = 0, end: int | None = None, depth: int = 0
) -> Message | None:
    """A multipart message's tree built by splitting at its boundaries; None when unsure.

    The feed parser walks a body line by line: a 5 MB base64 attachment is
    ~70,000 lines and ~0.2 s. Splitting at the boundary lines with one regular
    expression gives the same tree (headers parsed by the same header parser,
    payloads the same text, the line break before a boundary left out as the
    feed parser leaves it out) for a well-formed message. Anything irregular
    (no boundary, text outside the parts, a missing close, an embedded
    message, a header defect) goes to the full parser, which also records it.
    Parts are offsets into `raw`, never copies of it: a large attachment is
    decoded from the message's own bytes (see `decoded_payload`).
    """
    stop = len(raw) if end is None else end
    split = _headers_and_body(raw, start, stop) if depth == 0 else _part_headers(raw, start, stop)
    if split is None or depth > 8:
        return None
    head, body = split
    if head.get_content_maintype() != "multipart":
        return None if depth == 0 else _leaf(head, raw, body, stop)
    boundary = head.get_boundary()
    if not boundary or head.get_content_subtype() == "digest":
        return None
    marks = _delimiters(raw, boundary.encode("ascii", "surrogateescape"), body, stop)
    if len(marks) < 2 or not marks[-1][2] or any(closing for _, _, closing in marks[:-1]):
        return None
    head.set_payload([])
    for opening, closing in itertools.pairwise(marks):
        child = _multipart_tree(raw, opening[1], closing[0], depth + 1)
        if child is None:
            return None
        head.attach(child)
    return head


def delimiter_lines(body: bytes, boundary: bytes) -> list[tuple[int, int, bool]]:
    """(start, end, closing) of each boundary delimiter line in `body`, in order.

    What ``re.finditer(rb"(?:\\r?\\n|\\A)--B(--)?[ \\t]*(?:\\r?\\n|\\Z)", body)``
    finds, by `bytes.find` of ``--B`` (a regular expression that starts with a
    line break tries every byte: ~3 s of CPU for a 2000-message mailbox). A
    line break already consumed by the previous delimiter does not start another.
    """
    return _delimiters(body, boundary, 0, len(body))


def _delimiters(buf: bytes, boundary: bytes, start: int, stop: int) -> list[tuple[int, int, bool]]:
    """`delimiter_lines` of buf[start:stop], as offsets into `buf`."""
    needle = b"--" + boundary
    marks: list[tuple[int, int, bool]] = []
    last_end = pos = start
    while (found := buf.find(needle, pos, stop)) >= 0:
        pos = found + 1
        if found == start:
            begin = start  # \A (never after an earlier match)
        elif buf[found - 1] == 0x0A and found - 1 >= last_end:
            crlf = found - 2 >= start and buf[found - 2] == 0x0D and found - 2 >= last_end
            begin = found - 2 if crlf else found - 1
        else:
            continue
        end = found + len(needle)
        closing = buf.startswith(b"--", end, stop)
        if closing:
            end += 2
        while end < stop and buf[end] in (0x20, 0x09):
            end += 1
        if buf.startswith(b"\r\n", end, stop):
            end += 2
        elif buf.startswith(b"\n", end, stop):
            end += 1
        elif end != stop:
            continue
        marks.append((begin, end, closing))
        last_end = pos = end
    return marks


def _part_headers(buf: bytes, start: int, stop: int) -> tuple[Message, int] | None:
    """A part's header block (which may be empty) and where its body starts."""
    if buf.startswith(b"\r\n", start, stop):
        return email.message.Message(policy=LENIENT), start + 2
    if buf.startswith(b"\n", start, stop):
        return email.message.Message(policy=LENIENT), start + 1
    return _headers_and_body(buf, start, stop)


_SPAN_FROM = 1024 * 1024  # base64 parts larger than this are decoded from the message's bytes
_SPAN = "_gallra_span"  # attribute on a part whose payload is left in the message's bytes


def _leaf(head: Message, buf: bytes, start: int, stop: int) -> Message | None:
    """A non-multipart part with its payload as the feed parser would keep it.

    A large base64 part that is not text keeps its payload in the message's
    bytes (an offset pair), so parsing a 30 MB message does not hold the
    attachment three times over as text, bytes and line-stripped bytes.
    """
    if head.get_content_maintype() == "message":
        return None  # the feed parser parses message/* parts as messages: leave them to it
    encoding = str(head.get("content-transfer-encoding", "")).strip().lower()
    if stop - start > _SPAN_FROM and encoding == "base64" and head.get_content_maintype() != "text":
        head.set_payload("")
        setattr(head, _SPAN, (buf, start, stop))
        return head
    head.set_payload(buf[start:stop].decode("ascii", "surrogateescape"))
    return head


def _spanned_base64(buf: bytes, start: int, stop: int) -> bytes | None:
    """Strict base64 of buf[start:stop] decoded in ~1 MiB blocks cut at line ends; None
    when any block is not clean base64 (the caller then takes the standard library's way).

    The decoded bytes grow in one buffer: the peak is the message plus the
    attachment once, not twice.
    """
    out = io.BytesIO()
    carry = b""
    pos = start
    while pos < stop:
        cut = buf.find(b"\n", min(pos + _SPAN_FROM, stop - 1), stop)
        block_end = stop if cut < 0 else cut + 1
        clean = carry + buf[pos:block_end].translate(None, b"\r\n")
        pos = block_end
        keep = len(clean) - len(clean) % 4 if pos < stop else len(clean)
        clean, carry = clean[:keep], clean[keep:]
        if (pos < stop and b"=" in clean) or len(clean) % 4:
            return None  # padding inside, or a ragged end: damaged, not for the fast way
        try:
            out.write(pybase64.b64decode(clean, validate=True))
        except ValueError:  # binascii.Error
            return None
    return out.getvalue() if not carry else None


def _parse_headers(message: Message, parsed: ParsedMessage) -> ParsedMessage:
    problems = parsed.problems

    ids = _raw_header(message, "Message-ID")
    if ids:
        value = decode_header_value(ids[0]).strip()
        parsed.message_id = value[:998] or None
    parsed.date = _date(_raw_header(message, "Date"), problems)
    subjects = _raw_header(message, "Subject")
    parsed.subject = decode_header_value(subjects[0])[:998] if subjects else ""
    parsed.senders = _addresses(_raw_header(message, "From"), problems, "From")
    parsed.to = _addresses(_raw_header(message, "To"), problems, "To")
    parsed.cc = _addresses(_raw_header(message, "Cc"), problems, "Cc")
    parsed.reply_to = _addresses(_raw_header(message, "Reply-To"), problems, "Reply-To")
    for attr, header in (
        ("list_id", "List-Id"),
        ("precedence", "Precedence"),
        ("auto_submitted", "Auto-Submitted"),
    ):
        values = _raw_header(message, header)
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
        disposition = (part.get("Content-Disposition") or "").lower()
        try:
            filename = part.get_filename()
        except (ValueError, LookupError, TypeError):
            filename = None
            problems.append(f"{where}: unreadable filename")
        is_body = (
            content_type in ("text/plain", "text/html")
            and not filename
            and ("attachment" not in disposition)
        )
        if is_body:
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


def decoded_payload(part: Message) -> object:
    """What ``part.get_payload(decode=True)`` returns, base64 in one fast pass.

    The standard library splits a base64 payload into its lines, joins them
    and decodes with a byte-at-a-time loop: ~0.9 s of CPU for the bench
    mailbox's 25 attachments of 2-6 MB, most of its parse. Line breaks removed
    in one call and a vectorised strict decode give the same bytes ~6x faster.
    Anything that decoder refuses (a wrong length, a character outside the
    alphabet, misplaced padding, 8-bit bytes) goes to the standard library,
    which decodes what it can as it always did.
    """
    span = getattr(part, _SPAN, None)
    if span is not None:
        decoded = _spanned_base64(*span)
        if decoded is not None:
            return decoded
        buf, start, stop = span  # damaged: the standard library decodes what it can
        part.set_payload(buf[start:stop].decode("ascii", "surrogateescape"))
        delattr(part, _SPAN)
    payload = part.get_payload()
    encoding = str(part.get("content-transfer-encoding", "")).lower()  # as get_payload reads it
    if isinstance(payload, str) and encoding == "base64":
        try:
            encoded = payload.encode("ascii").translate(None, b"\r\n")
        except UnicodeEncodeError:  # 8-bit bytes: not base64
            return part.get_payload(decode=True)
        if len(encoded) % 4 == 0:
            try:
                return pybase64.b64decode(encoded, validate=True)
            except ValueError:  # binascii.Error
                pass
    return part.get_payload(decode=True)


def html_body(raw: bytes) -> str | None:
    """The first HTML body part of a message, decoded (for display); None without one."""
    try:
        message = email.message_from_bytes(raw, policy=LENIENT)
        for part in message.walk():
            if part.get_content_type() != "text/html" or part.get_filename():
                continue
            if "attachment" in (part.get("Content-Disposition") or "").lower():
                continue
            return _part_text(part, [], "html")
    except (RecursionError, LookupError, ValueError, TypeError, AttributeError, IndexError):
        return None
    return None


def parse_many(datas: list[bytes], max_bytes: int = MAX_PARSE_BYTES) -> list[ParsedMessage]:
    """`parse_message` over a list (one call per worker process, not one per message).

    Attachments are hashed here, in the worker, for the ingest that stores them.
    """
    parsed = [parse_message(data, max_bytes=max_bytes) for data in datas]
    for message in parsed:
        for attachment in message.attachments:
            _ = attachment.sha256
    return parsed


def start_parse_worker(parent_pid: int, niceness: int) -> None:
    """Worker initializer: run at a lower priority, and leave with the parent.

    The ingest's committing thread is the pipeline's slowest stage and the
    parse workers have batches of slack, so when the cores are short they
    should wait, not it. On two cores, measured on the 200 MB bench mailbox
    (eight interleaved rounds, three times): 6-11% less time at niceness 10.
    """
    import os

    if hasattr(os, "nice"):  # POSIX; elsewhere the workers keep their priority
        os.nice(niceness)
    exit_with_parent(parent_pid)


def exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: leave when the process that started us is gone.

    A parse worker whose parent was killed (SIGKILL, OOM) would otherwise live
    on as an orphan holding memory: a watchdog thread ends it within half a
    second. Not Linux's parent-death signal: it fires when the *thread* that
    spawned the worker ends, and workers are spawned from the ingest's
    helper thread, so they were killed mid-batch (a worker dying with the
    task queue's lock held left the pool hung at shutdown).
    """
    import os
    import threading
    import time

    if os.getppid() != parent_pid:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()

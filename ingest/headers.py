"""Reading header values that cannot be trusted: 8-bit bytes, encoded words, addresses.

Each function takes text (or a header block) and returns text or values;
none raises on a malformed header. Address lists are split before their
display names are decoded (RFC 2047: an encoded word is never an address),
raw 8-bit bytes are read as UTF-8, else Windows-1252, and whitespace between
plain text and an encoded word is kept.
"""

from __future__ import annotations

import binascii
import email.utils
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.policy import Compat32

__all__ = [
    "LENIENT",
    "Address",
    "decode_bytes",
    "decode_header_value",
    "header_values",
    "parse_addresses",
    "parse_date",
    "safe_filename",
]


_FALLBACK_CHARSETS = ("utf-8", "cp1252", "latin-1")
_ADDR_SPEC = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_MAX_NAME = 120


@dataclass(frozen=True)
class Address:
    """A display name and a lower-cased address."""

    name: str
    address: str


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
            return _NEWLINES.sub(" ", decode_bytes(raw, None)[0]).strip()
        return str(super().header_fetch_parse(name, value))


LENIENT = _Lenient()


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, bool]:
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
            parts.append(decode_bytes(b"".join(pending), charset)[0])
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


def header_values(message: Message, name: str) -> list[str]:
    """A header's values as text (the lenient policy already decoded raw 8-bit bytes)."""
    return [v if isinstance(v, str) else str(v) for v in message.get_all(name) or []]


def parse_addresses(values: list[str], problems: list[str], header: str) -> list[Address]:
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


def parse_date(values: list[str], problems: list[str]) -> datetime | None:
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

"""An e-mail made safe to show: decoded headers, text, and sanitised HTML without remote content."""

from __future__ import annotations

from dataclasses import dataclass, field

import nh3

from gallra.i18n import N_
from ingest.parse import html_body, parse_message

__all__ = ["MailView", "mail_view", "sanitise_html"]

# What a message may keep when shown: structure and emphasis, links that open
# elsewhere. No images (remote images are trackers), forms, media, frames or
# styles (CSS can fetch URLs too).
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "q", "s",
    "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def sanitise_html(html: str) -> str:
    """HTML with every script, handler, style, image and foreign URL scheme removed."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"https", "http", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


@dataclass
class MailView:
    """What the item page shows of a message."""

    subject: str = ""
    date: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str | None = None
    problems: list[str] = field(default_factory=list)


def mail_view(raw: bytes) -> MailView:
    """Decode `raw` for display; never raises on malformed input."""
    parsed = parse_message(raw)
    view = MailView(
        subject=parsed.subject,
        date=parsed.date.isoformat() if parsed.date else "",
        text=parsed.text,
        problems=list(parsed.problems),
    )
    for label, addresses in (
        (N_("From"), parsed.senders),
        (N_("To"), parsed.to),
        (N_("Cc"), parsed.cc),
        (N_("Reply-To"), parsed.reply_to),
    ):
        if addresses:
            view.headers.append(
                (
                    label,
                    ", ".join(
                        f"{a.name} <{a.address}>" if a.name else a.address for a in addresses
                    ),
                )
            )
    html = html_body(raw)
    if html is not None and html.strip():
        view.html = sanitise_html(html)
    return view

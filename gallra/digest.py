"""The practice is told: after a nightly run, an e-mail when something needs a person.

What needs her: a failed step, a request due within a week or overdue,
unassigned items, problems. The e-mail holds counts and a link to the page,
never a name, an address or a subject line: it crosses mail servers the
practice does not control. Sent with the standard library's smtplib.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from gallra.errors import ConfigError
from gallra.i18n import Texts, texts
from gallra.overview import Overview
from gallra.settings import NotifySettings
from models.errors import GallraError

__all__ = ["Digest", "DigestFailed", "compose", "needs_her", "send"]


class DigestFailed(GallraError):
    """The SMTP server could not be reached or refused the e-mail (named, no content)."""


@dataclass(frozen=True)
class Digest:
    """What needs a person, as counts."""

    failed_steps: int = 0
    requests_due: int = 0
    requests_overdue: int = 0
    unassigned: int = 0
    problems: int = 0
    steps: list[str] = field(default_factory=list)  # failed steps by label (source names)

    @property
    def anything(self) -> bool:
        """Whether there is anything to tell."""
        return bool(
            self.failed_steps
            or self.requests_due
            or self.requests_overdue
            or self.unassigned
            or self.problems
        )


def needs_her(facts: Overview, failed_steps: list[str], *, due_within_days: int) -> Digest:
    """The counts worth an e-mail, from the start page's facts and the run's failures."""
    return Digest(
        failed_steps=len(failed_steps),
        requests_due=sum(1 for r in facts.requests if 0 <= r.days_left <= due_within_days),
        requests_overdue=sum(1 for r in facts.requests if r.days_left < 0),
        unassigned=facts.unassigned,
        problems=facts.problems,
        steps=list(failed_steps),
    )


def _lines(digest: Digest, words: Texts) -> list[str]:
    lines = []
    if digest.failed_steps:
        lines.append(
            words.ngettext(
                "%(num)s step of last night's run failed.",
                "%(num)s steps of last night's run failed.",
                digest.failed_steps,
            )
        )
    if digest.requests_overdue:
        lines.append(
            words.ngettext(
                "%(num)s request is overdue.", "%(num)s requests are overdue.",
                digest.requests_overdue,
            )
        )  # fmt: skip
    if digest.requests_due:
        lines.append(
            words.ngettext(
                "%(num)s request must be answered within a week.",
                "%(num)s requests must be answered within a week.",
                digest.requests_due,
            )
        )
    if digest.unassigned:
        lines.append(
            words.ngettext(
                "%(num)s item is tied to nobody.", "%(num)s items are tied to nobody.",
                digest.unassigned,
            )
        )  # fmt: skip
    if digest.problems:
        lines.append(
            words.ngettext(
                "%(num)s problem to look at.", "%(num)s problems to look at.", digest.problems
            )
        )
    return lines


def compose(digest: Digest, settings: NotifySettings) -> EmailMessage:
    """The e-mail: counts and the page's address, in the practice's language."""
    words = texts(settings.language)
    message = EmailMessage()
    message["Subject"] = words.gettext("gallra: something needs you")
    message["From"] = settings.from_address or settings.to[0]
    message["To"] = ", ".join(settings.to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="gallra.invalid")
    body = [
        words.gettext("Last night's run found something that needs you:"),
        "",
        *(f"- {line}" for line in _lines(digest, words)),
        "",
        words.gettext("Open the start page to see what: %(url)s", url=settings.page_url),
        "",
        words.gettext("This message holds no names or content, only counts."),
    ]
    message.set_content("\n".join(body))
    return message


def send(message: EmailMessage, settings: NotifySettings) -> None:
    """Deliver over SMTP (STARTTLS, TLS or plain on loopback); DigestFailed naming the server."""
    where = f"SMTP {settings.smtp_host}:{settings.smtp_port}"
    if not settings.to:
        raise ConfigError("notify.to: no address to send to")
    if settings.security == "none" and settings.smtp_host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError(f"notify: plain SMTP to {settings.smtp_host} (not loopback) refused")
    password = settings.password()
    try:
        client: smtplib.SMTP
        if settings.security == "tls":
            client = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=settings.timeout_seconds,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds
            )
        with client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, password)
            client.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise DigestFailed(f"{where}: refused ({exc.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused:
        raise DigestFailed(f"{where}: refused the recipients") from None
    except (TimeoutError, smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise DigestFailed(f"{where}: unreachable ({type(exc).__name__})") from None

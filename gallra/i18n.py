"""Words and times for people: Swedish first, English on request.

Messages are gettext catalogues (`gallra/locale/<lang>/LC_MESSAGES/messages.po`,
English message ids, compiled to `.mo` by the install). A catalogue that was
not compiled (a checkout run in place) is compiled in memory from its `.po`.
The page, the access report and the practice's e-mail all speak through
`Texts`. Times are shown in Europe/Stockholm: `18 nov. 2026 09:12`, and
"i dag 09:12" where that is clearer.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from models.clock import STOCKHOLM

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "Texts",
    "choose_language",
    "current",
    "texts",
    "translations",
    "using",
]

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a message for the catalogue without translating it here."""
    return message


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalogue of `language` (English: the message ids themselves)."""
    if language == "en":
        return gettext.NullTranslations()
    mo = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    po = mo.with_suffix(".po")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def choose_language(setting: str | None, accept_language: str | None) -> str:
    """The user's own setting, else the browser's first language we speak, else Swedish."""
    if setting in LANGUAGES:
        return str(setting)
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Texts:
    """Messages, labels and times in one language (`today` for "i dag", "i morgon")."""

    language: str
    today: date | None = None

    @property
    def _catalogue(self) -> gettext.NullTranslations:
        return translations(self.language)

    def gettext(self, message: str, **values: object) -> str:
        """`message` translated, with `%(name)s` placeholders filled from `values`."""
        text = self._catalogue.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        """The form for `n` (placeholders `%(num)s` and `values`)."""
        text = self._catalogue.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def label(self, vocabulary: str, value: str | None) -> str:
        """The name of a purpose, basis, role, rule, kind, right or hold kind."""
        from gallra.labels import LABELS

        if not value:
            return ""
        message = LABELS.get(vocabulary, {}).get(value)
        return self.gettext(message) if message else value.replace("_", " ")

    def moment(self, at: datetime | None) -> str:
        """A stored UTC instant as Stockholm time: `18 nov. 2026 09:12`, or `i dag 09:12`."""
        from babel.dates import format_datetime

        if at is None:
            return ""
        local = at.astimezone(STOCKHOLM)
        relative = self.relative_day(local.date(), self.today)
        if relative:
            return f"{relative} {local:%H:%M}"
        return format_datetime(local, "d MMM y HH:mm", locale=self.language)

    def day(self, value: date | datetime | None) -> str:
        """A calendar day, `18 nov. 2026` (an instant: its Stockholm day)."""
        from babel.dates import format_date

        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(STOCKHOLM).date()
        return format_date(value, "d MMM y", locale=self.language)

    def size(self, size: int) -> str:
        """A size in bytes for people: `12,3 kB` (Swedish) or `12.3 kB`."""
        from babel.numbers import format_decimal

        for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
            if size >= factor:
                return f"{format_decimal(size / factor, '#,##0.#', locale=self.language)} {unit}"
        return self.ngettext("%(num)s byte", "%(num)s bytes", size)

    def relative_day(self, value: date, today: date | None) -> str:
        """ "i dag", "i morgon" or "i går" when `value` is that close to `today`, else ""."""
        if today is None:
            return ""
        names = {0: N_("today"), 1: N_("tomorrow"), -1: N_("yesterday")}
        name = names.get((value - today).days)
        return self.gettext(name) if name else ""


_current: ContextVar[Texts | None] = ContextVar("gallra_texts", default=None)


def texts(language: str, today: date | None = None) -> Texts:
    """The texts of `language` (Swedish for anything we do not speak)."""
    return Texts(language if language in LANGUAGES else DEFAULT_LANGUAGE, today)


def current() -> Texts:
    """The language of the page or report being written now."""
    return _current.get() or Texts(DEFAULT_LANGUAGE)


def using(language: str, today: date | None = None) -> Callable[[], None]:
    """Make `language` current; returns the function that restores the one before."""
    token = _current.set(texts(language, today))
    return lambda: _current.reset(token)

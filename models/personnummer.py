"""Swedish personal identity numbers (personnummer) and coordination numbers
(samordningsnummer).

Accepted forms: ``YYMMDD-NNNC``, ``YYMMDD+NNNC`` (the person is 100 or older),
``YYMMDDNNNC``, ``YYYYMMDD-NNNC`` and ``YYYYMMDDNNNC``. A coordination number
has 60 added to the day. The last digit is a Luhn check over the ten-digit
form. gallra never stores the number itself: only a keyed hash (HMAC-SHA256
under a secret from settings) and a masked form for display.

Error messages never repeat the number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date

from models.errors import PersonnummerError

__all__ = ["Personnummer", "keyed_hash", "luhn_ok", "parse_personnummer"]

_FORM = re.compile(r"^(?P<date>\d{6}|\d{8})(?P<sep>[-+]?)(?P<serial>\d{3})(?P<check>\d)$")


@dataclass(frozen=True)
class Personnummer:
    """A validated number in its twelve-digit normal form."""

    normalized: str  # YYYYMMDDNNNC, day + 60 kept for samordningsnummer
    birth_date: date
    is_coordination_number: bool

    @property
    def masked(self) -> str:
        """Birth date with the last four digits hidden, e.g. ``19850412-****``."""
        return f"{self.normalized[:8]}-****"

    def keyed_hash(self, key: bytes) -> str:
        """HMAC-SHA256 of the normal form under `key`, as hex."""
        return keyed_hash(key, self.normalized)


def keyed_hash(key: bytes, value: str) -> str:
    """HMAC-SHA256 of `value` under `key`, as hex; `key` must not be empty."""
    if not key:
        raise ValueError("keyed_hash needs a non-empty key")
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def luhn_ok(digits: str) -> bool:
    """True when the last digit of `digits` is the Luhn check of the rest."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def parse_personnummer(text: str, *, today: date) -> Personnummer:
    """Validate `text` and return its normal form.

    `today` decides the century of a ten-digit number: the latest century in
    which the birth date is not in the future, one century earlier with '+'.
    """
    match = _FORM.match(text.strip().replace(" ", ""))
    if match is None:
        raise PersonnummerError(
            "personnummer: expected YYMMDD-NNNC, YYMMDD+NNNC or YYYYMMDD-NNNC (10 or 12 digits)"
        )
    date_part, sep, serial, check = match["date"], match["sep"], match["serial"], match["check"]
    year_digits = date_part[:-4]
    month, day = int(date_part[-4:-2]), int(date_part[-2:])
    coordination = day > 60
    real_day = day - 60 if coordination else day

    if len(year_digits) == 4:
        year = int(year_digits)
        candidates = [year]
    else:
        short = int(year_digits)
        century_base = today.year - today.year % 100
        candidates = [century_base + short, century_base - 100 + short]

    birth: date | None = None
    last_error = "personnummer: the date part is not a real date"
    for year in candidates:
        try:
            candidate = date(year, month, real_day)
        except ValueError:
            continue
        if candidate > today:
            last_error = "personnummer: the birth date is in the future"
            continue
        birth = candidate
        break
    if birth is None:
        raise PersonnummerError(last_error)
    if len(year_digits) == 2 and sep == "+":
        try:
            birth = birth.replace(year=birth.year - 100)
        except ValueError as exc:  # 29 Feb of a non-leap year a century back
            raise PersonnummerError("personnummer: the date part is not a real date") from exc

    ten = f"{birth.year % 100:02d}{month:02d}{day:02d}{serial}{check}"
    if not luhn_ok(ten):
        raise PersonnummerError("personnummer: the check digit does not match (Luhn)")
    normalized = f"{birth.year:04d}{month:02d}{day:02d}{serial}{check}"
    return Personnummer(
        normalized=normalized, birth_date=birth, is_coordination_number=coordination
    )

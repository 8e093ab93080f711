"""Normalising identifiers so matching is exact: e-mail addresses and phones."""

from __future__ import annotations

import re

from models.errors import InvalidInput

__all__ = ["mask_email", "normalise_email", "normalise_phone"]

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def normalise_email(address: str) -> str:
    """Lower-case, stripped address; InvalidInput if it is not one."""
    value = address.strip().strip("<>").lower()
    if not _EMAIL.match(value):
        raise InvalidInput("e-mail address: not of the form name@domain.tld")
    return value


def mask_email(address: str) -> str:
    """First letter of the local part and the domain: ``a***@example.se``."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def normalise_phone(number: str) -> str:
    """Digits with a leading + for international form; Swedish 07x becomes +467x."""
    digits = re.sub(r"[^\d+]", "", number)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = "+46" + digits[1:]
    if not re.fullmatch(r"\+?\d{6,15}", digits):
        raise InvalidInput("phone number: expected 6 to 15 digits")
    return digits

"""Errors raised by the domain layer.

Tree::

    GallraError                 base of every error gallra raises on purpose
    +-- PolicyError             a policy file is malformed or inconsistent
    +-- PersonnummerError       a Swedish personal identity number is invalid
    +-- InvalidInput            any other refused input (dates, periods, names)

Messages never contain personal data: they name the input (a rule id, a file
path, a field), not its value when the value is personal.
"""

from __future__ import annotations

__all__ = ["GallraError", "InvalidInput", "PersonnummerError", "PolicyError"]


class GallraError(Exception):
    """Base of every error gallra raises on purpose; the CLI prints its text."""


class PolicyError(GallraError):
    """The retention policy file is malformed or inconsistent."""


class PersonnummerError(GallraError):
    """A personnummer or samordningsnummer failed validation."""


class InvalidInput(GallraError):
    """Any other refused input."""

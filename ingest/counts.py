"""Run summaries that add up: counts (and ids) only, never personal data."""

from __future__ import annotations

from dataclasses import fields
from typing import Self

__all__ = ["Counts"]


class Counts:
    """A dataclass of numbers and id lists that one run's parts add into a total."""

    def add(self, other: Self) -> None:
        """Add `other`'s counts (and append its ids) to these."""
        for field in fields(self):  # type: ignore[arg-type]
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

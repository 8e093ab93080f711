"""Time: an injectable clock and the Europe/Stockholm calendar.

All retention maths is done on Stockholm calendar dates; all stored
timestamps are timezone-aware UTC. A date "deletable from D" becomes the UTC
instant of Stockholm midnight at the start of D.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "STOCKHOLM",
    "Clock",
    "FixedClock",
    "SystemClock",
    "local_date",
    "start_of_local_day",
    "utc",
]

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock:
    """A clock stopped at one instant (tests, dry runs, `--now`)."""

    instant: datetime

    def __post_init__(self) -> None:
        if self.instant.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")

    @classmethod
    def on(cls, day: date) -> FixedClock:
        """A clock at noon Stockholm time on `day` (safely inside the day)."""
        return cls(datetime.combine(day, time(12, 0), STOCKHOLM).astimezone(UTC))

    def now(self) -> datetime:
        """Return the fixed instant in UTC."""
        return self.instant.astimezone(UTC)


def utc(moment: datetime) -> datetime:
    """Return `moment` in UTC; refuse naive datetimes rather than guess."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: a timezone is required")
    return moment.astimezone(UTC)


def local_date(moment: datetime) -> date:
    """The Stockholm calendar date of an aware instant."""
    return utc(moment).astimezone(STOCKHOLM).date()


def start_of_local_day(day: date) -> datetime:
    """The UTC instant at which Stockholm day `day` begins (DST-correct)."""
    return datetime.combine(day, time(0, 0), STOCKHOLM).astimezone(UTC)

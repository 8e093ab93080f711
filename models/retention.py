"""The one pure function that decides how long an item is kept.

`compute_expiry(policy, item, subjects)` takes facts and returns the first
Stockholm calendar day on which the item may be deleted (or None while some
claim keeps it indefinitely, e.g. a running contract) and the rule that set
it. An item tied to several subjects lives as long as the longest valid
claim. Holds are not an input: they never change a date, they only stop the
sweep (see `is_deletable`).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from models.clock import start_of_local_day
from models.enums import LegalBasis, SubjectStatus
from models.policy import FactCombination, Period, Policy, Rule

__all__ = [
    "Expiry",
    "ItemFacts",
    "SubjectFacts",
    "add_period",
    "compute_expiry",
    "is_deletable",
    "kept_until",
    "last_day_kept",
    "registry_probe",
]


@dataclass(frozen=True)
class ItemFacts:
    """What the rules need to know about an item."""

    item_date: date  # Stockholm date it was received or recorded
    purpose: str
    legal_basis: LegalBasis
    special_category: bool = False


@dataclass(frozen=True)
class SubjectFacts:
    """What the rules need to know about one subject an item is tied to."""

    status: SubjectStatus
    engagement_running: bool = False
    last_engagement_end: date | None = None
    objection_on: date | None = None
    consent_withdrawn_on: Mapping[str, date] = field(default_factory=dict)  # purpose -> date
    erasure_on: date | None = None

    @classmethod
    def unassigned(cls) -> SubjectFacts:
        """The facts of an item tied to nobody."""
        return cls(status=SubjectStatus.UNASSIGNED)


@dataclass(frozen=True)
class Expiry:
    """The outcome: deletable from `deletable_from` (None: kept for now), by `rule_id`."""

    deletable_from: date | None
    rule_id: str
    policy_version: str

    @property
    def expires_at(self) -> datetime | None:
        """The UTC instant the deletable day begins in Stockholm."""
        return None if self.deletable_from is None else start_of_local_day(self.deletable_from)


def add_period(start: date, period: Period) -> date:
    """`start` plus a calendar period; a month end is clamped (31 Jan + 1m = 28/29 Feb)."""
    if period.unit == "d":
        return start + timedelta(days=period.count)
    if period.unit == "w":
        return start + timedelta(weeks=period.count)
    months = period.count * (12 if period.unit == "y" else 1)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _financial_year_end(policy: Policy, day: date) -> date:
    month, dom = (int(part) for part in policy.financial_year_end.split("-"))
    end_this_year = date(day.year, month, min(dom, calendar.monthrange(day.year, month)[1]))
    if day <= end_this_year:
        return end_this_year
    return date(day.year + 1, month, min(dom, calendar.monthrange(day.year + 1, month)[1]))


def _anchor_date(policy: Policy, rule: Rule, item: ItemFacts, subject: SubjectFacts) -> date | None:
    """The earliest anchor event that has happened; None if none has."""
    happened: list[date] = []
    for anchor in rule.anchors:
        value: date | None
        if anchor == "item_date":
            value = item.item_date
        elif anchor == "engagement_end":
            value = None if subject.engagement_running else subject.last_engagement_end
        elif anchor == "financial_year_end":
            value = _financial_year_end(policy, item.item_date)
        elif anchor == "objection":
            value = subject.objection_on
        else:  # consent_withdrawn: only the consent this item's purpose rests on
            value = (
                subject.consent_withdrawn_on.get(item.purpose)
                if item.legal_basis is LegalBasis.CONSENT
                else None
            )
        if value is not None:
            happened.append(value)
    return min(happened) if happened else None


def _claim(policy: Policy, item: ItemFacts, subject: SubjectFacts) -> tuple[date | None, Rule]:
    claim = _claim_as(policy, item, subject, subject.status)
    ended = subject.last_engagement_end
    if (
        subject.status is SubjectStatus.CLIENT
        and not subject.engagement_running
        and ended is not None
        and item.item_date > ended
    ):
        # Written after the agreement ended: contract correspondence and a new contact
        # at once, so it lives as long as the longer of the two claims.
        as_contact = _claim_as(policy, item, subject, SubjectStatus.PROSPECT)
        if claim[0] is not None and (as_contact[0] is None or as_contact[0] > claim[0]):
            return as_contact
    return claim


def _claim_as(
    policy: Policy, item: ItemFacts, subject: SubjectFacts, status: SubjectStatus
) -> tuple[date | None, Rule]:
    combo = FactCombination(item.purpose, item.legal_basis, status, item.special_category)
    rule = policy.rule_for(combo)
    anchor = _anchor_date(policy, rule, item, subject)
    deletable: date | None = None
    if anchor is not None:
        base = anchor if rule.count_from == "anchor" else date(anchor.year + 1, 1, 1)
        deletable = add_period(base, rule.keep_period)
    if rule.erasable and subject.erasure_on is not None:
        deletable = subject.erasure_on if deletable is None else min(deletable, subject.erasure_on)
    return deletable, rule


def compute_expiry(policy: Policy, item: ItemFacts, subjects: Sequence[SubjectFacts]) -> Expiry:
    """First day `item` may be deleted under `policy`, given the subjects it concerns.

    Each subject gives one claim by the single rule its facts match; an item
    tied to nobody is judged as unassigned. The longest claim wins and an
    open-ended claim (None) beats every date.
    """
    claims = [_claim(policy, item, subject) for subject in subjects or [SubjectFacts.unassigned()]]
    open_ended = [rule for deletable, rule in claims if deletable is None]
    if open_ended:
        return Expiry(None, open_ended[0].id, policy.label)
    latest, rule = max(claims, key=lambda claim: claim[0] or date.min)
    return Expiry(latest, rule.id, policy.label)


def registry_probe(facts: SubjectFacts, registered_on: date) -> ItemFacts:
    """A person's registry entry, judged like an agreement record of theirs.

    For a client it is dated at the end of their last agreement (it is that
    agreement's record); for anyone else at registration (an enquiry's).
    """
    day = registered_on
    if facts.status is SubjectStatus.CLIENT and facts.last_engagement_end is not None:
        day = min(day, facts.last_engagement_end)
    return ItemFacts(item_date=day, purpose="agreement", legal_basis=LegalBasis.CONTRACT)


def is_deletable(expires_at: datetime | None, *, held: bool, now: datetime) -> bool:
    """The sweep's test: a date has passed and nothing holds the item."""
    return not held and expires_at is not None and expires_at <= now


def kept_until(deletable_from: date | None) -> date | None:
    """The last day kept, for people: the day before it becomes deletable (None: no date)."""
    return None if deletable_from is None else deletable_from - timedelta(days=1)


def last_day_kept(expires_at: datetime | None) -> date | None:
    """The last Stockholm calendar day an item with this `expires_at` is kept."""
    from models.clock import local_date

    return None if expires_at is None else kept_until(local_date(expires_at))

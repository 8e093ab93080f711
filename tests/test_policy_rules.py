"""POLICY.md's retention rules, one table row per rule with its worked example.

Each row reads: an item of this kind, about a person in this situation,
may be deleted from this date (Europe/Stockholm calendar).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.clock import FixedClock, local_date, start_of_local_day
from models.enums import LegalBasis, SubjectStatus
from models.policy import Policy
from models.retention import ItemFacts, SubjectFacts, compute_expiry, is_deletable

CONTRACT = LegalBasis.CONTRACT
CLIENT = SubjectStatus.CLIENT
PROSPECT = SubjectStatus.PROSPECT


def client(ended: date | None, *, running: bool = False, **more: object) -> SubjectFacts:
    return SubjectFacts(
        status=CLIENT,
        engagement_running=running,
        last_engagement_end=ended,
        **more,  # type: ignore[arg-type]
    )


def agreement_item(day: date, *, special: bool = False) -> ItemFacts:
    return ItemFacts(
        item_date=day, purpose="agreement", legal_basis=CONTRACT, special_category=special
    )


# (POLICY.md rule, item, subjects, deletable from, rule id)
TABLE = [
    pytest.param(
        agreement_item(date(2025, 5, 1)),
        [client(None, running=True)],
        None,
        "contract",
        id="rule 1: contract in force -> kept",
    ),
    pytest.param(
        agreement_item(date(2025, 5, 1)),
        [client(date(2026, 3, 10))],
        date(2032, 1, 1),
        "contract",
        id="rule 2: contract ended 2026-03-10 -> deletable 2032-01-01",
    ),
    pytest.param(
        agreement_item(date(2025, 5, 1), special=True),
        [client(date(2026, 3, 10))],
        date(2032, 1, 1),
        "contract",
        id="rule 2: health data (special category) under the agreement follows it",
    ),
    pytest.param(
        agreement_item(date(2026, 3, 6)),
        [SubjectFacts(status=PROSPECT)],
        date(2026, 6, 6),
        "prospect",
        id="rule 3: enquiry received 2026-03-06 -> deletable 2026-06-06",
    ),
    pytest.param(
        agreement_item(date(2026, 3, 6)),
        [client(None, running=True)],
        None,
        "contract",
        id="rule 4: the prospect signs -> earlier data falls under the contract",
    ),
    pytest.param(
        ItemFacts(date(2025, 4, 2), "consented", LegalBasis.CONSENT),
        [client(None, running=True, consent_withdrawn_on={"consented": date(2026, 2, 1)})],
        date(2026, 2, 1),
        "consent",
        id="rule 5: consent withdrawn 2026-02-01 -> what rested on it alone goes at once",
    ),
    pytest.param(
        agreement_item(date(2025, 4, 2)),
        [client(None, running=True, consent_withdrawn_on={"consented": date(2026, 2, 1)})],
        None,
        "contract",
        id="rule 5: data with another valid basis stays",
    ),
    pytest.param(
        ItemFacts(date(2025, 4, 2), "marketing", LegalBasis.LEGITIMATE_INTEREST),
        [client(None, running=True, objection_on=date(2026, 9, 15))],
        date(2026, 9, 15),
        "marketing",
        id="rule 6: objection to direct marketing 2026-09-15 -> marketing data goes at once",
    ),
    pytest.param(
        ItemFacts(date(2025, 4, 2), "marketing", LegalBasis.LEGITIMATE_INTEREST),
        [client(None, running=True)],
        None,
        "marketing",
        id="rule 6: no objection -> marketing data kept",
    ),
    pytest.param(
        ItemFacts(date(2025, 6, 30), "accounting", LegalBasis.LEGAL_OBLIGATION),
        [client(date(2025, 8, 1))],
        date(2033, 1, 1),
        "accounting",
        id="rule 7: invoice of financial year 2025 -> deletable 2033-01-01 (law beats 5 years)",
    ),
    pytest.param(
        ItemFacts(date(2025, 6, 30), "accounting", LegalBasis.LEGAL_OBLIGATION),
        [client(date(2025, 8, 1), erasure_on=date(2026, 1, 5))],
        date(2033, 1, 1),
        "accounting",
        id="rule 7: erasure cannot shorten a legal obligation",
    ),
    pytest.param(
        agreement_item(date(2025, 6, 30)),
        [client(date(2025, 8, 1), erasure_on=date(2026, 1, 5))],
        date(2026, 1, 5),
        "contract",
        id="erasure (art. 17): everything else goes on the day it is asked",
    ),
    pytest.param(
        agreement_item(date(2033, 2, 1)),
        [client(date(2026, 3, 10))],
        date(2033, 5, 1),
        "prospect",
        id="mail from an ex-client after the contract's retention ended: 3 months, like a contact",
    ),
    pytest.param(
        agreement_item(date(2026, 3, 24)),
        [client(date(2026, 3, 10))],
        date(2032, 1, 1),
        "contract",
        id="mail two weeks after the contract ended: as long as the contract's data",
    ),
    pytest.param(
        agreement_item(date(2026, 1, 20)),
        [],
        date(2026, 4, 20),
        "unassigned",
        id="an item tied to nobody: 3 months, like an enquiry",
    ),
]


@pytest.mark.parametrize(("item", "subjects", "deletable_from", "rule_id"), TABLE)
def test_policy_rule(
    policy: Policy,
    item: ItemFacts,
    subjects: list[SubjectFacts],
    deletable_from: date | None,
    rule_id: str,
) -> None:
    expiry = compute_expiry(policy, item, subjects)
    assert (expiry.deletable_from, expiry.rule_id) == (deletable_from, rule_id)
    assert expiry.policy_version == policy.label


def test_item_of_two_subjects_lives_as_long_as_the_longest_claim(policy: Policy) -> None:
    """GIVEN mail about an ex-client (ended 2026) and a prospect THEN the contract wins."""
    expiry = compute_expiry(
        policy,
        agreement_item(date(2026, 3, 6)),
        [SubjectFacts(status=PROSPECT), client(date(2026, 3, 10))],
    )
    assert (expiry.deletable_from, expiry.rule_id) == (date(2032, 1, 1), "contract")


def test_open_ended_claim_beats_any_date(policy: Policy) -> None:
    expiry = compute_expiry(
        policy,
        agreement_item(date(2020, 1, 1)),
        [client(date(2020, 6, 1)), client(None, running=True)],
    )
    assert expiry.deletable_from is None


# Boundaries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ended", "deletable_from"),
    [
        (date(2026, 12, 31), date(2032, 1, 1)),  # last day of the year
        (date(2027, 1, 1), date(2033, 1, 1)),  # first day of the next
        (date(2024, 2, 29), date(2030, 1, 1)),  # leap day
    ],
)
def test_contract_year_boundaries(policy: Policy, ended: date, deletable_from: date) -> None:
    expiry = compute_expiry(policy, agreement_item(date(2024, 1, 1)), [client(ended)])
    assert expiry.deletable_from == deletable_from


@pytest.mark.parametrize(
    ("received", "deletable_from"),
    [
        (date(2026, 11, 30), date(2027, 2, 28)),  # no 30 Feb: clamp to month end
        (date(2027, 11, 30), date(2028, 2, 29)),  # leap year
        (date(2026, 12, 31), date(2027, 3, 31)),  # across the year boundary
    ],
)
def test_prospect_month_arithmetic(policy: Policy, received: date, deletable_from: date) -> None:
    expiry = compute_expiry(policy, agreement_item(received), [SubjectFacts(status=PROSPECT)])
    assert expiry.deletable_from == deletable_from


def test_deletable_day_starts_at_stockholm_midnight_in_winter_and_summer(policy: Policy) -> None:
    winter = compute_expiry(policy, agreement_item(date(2025, 1, 1)), [client(date(2026, 3, 10))])
    assert winter.expires_at == datetime(2031, 12, 31, 23, 0, tzinfo=UTC)  # CET = UTC+1
    summer = compute_expiry(
        policy, agreement_item(date(2026, 3, 6)), [SubjectFacts(status=PROSPECT)]
    )
    assert summer.expires_at == datetime(2026, 6, 5, 22, 0, tzinfo=UTC)  # CEST = UTC+2


@pytest.mark.parametrize(
    ("instant", "stockholm_day"),
    [
        # DST starts 2026-03-29 02:00 CET; ends 2026-10-25 03:00 CEST.
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), date(2026, 3, 29)),
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), date(2026, 3, 29)),
        (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), date(2026, 10, 25)),
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), date(2026, 10, 25)),
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), date(2026, 10, 26)),
        (datetime(2026, 12, 31, 22, 59, tzinfo=UTC), date(2026, 12, 31)),
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), date(2027, 1, 1)),
    ],
)
def test_dates_are_stockholm_calendar_days_across_dst(
    instant: datetime, stockholm_day: date
) -> None:
    assert local_date(instant) == stockholm_day


def test_dst_night_days_have_their_real_length() -> None:
    assert start_of_local_day(date(2026, 3, 30)) - start_of_local_day(
        date(2026, 3, 29)
    ) == timedelta(hours=23)
    assert start_of_local_day(date(2026, 10, 26)) - start_of_local_day(
        date(2026, 10, 25)
    ) == timedelta(hours=25)


def test_sweep_test_on_the_deletable_day(policy: Policy) -> None:
    """An item deletable from 2032-01-01 is not deletable at 23:59 on 31 Dec, and is at 00:00."""
    expires_at = compute_expiry(
        policy, agreement_item(date(2025, 1, 1)), [client(date(2026, 3, 10))]
    ).expires_at
    eve = FixedClock(datetime(2031, 12, 31, 22, 59, tzinfo=UTC)).now()
    new_year = FixedClock(datetime(2031, 12, 31, 23, 0, tzinfo=UTC)).now()
    assert not is_deletable(expires_at, held=False, now=eve)
    assert is_deletable(expires_at, held=False, now=new_year)
    assert not is_deletable(expires_at, held=True, now=new_year + timedelta(days=3650))


# Properties ------------------------------------------------------------------

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))
purposes = st.sampled_from(
    [
        ("agreement", CONTRACT),
        ("accounting", LegalBasis.LEGAL_OBLIGATION),
        ("marketing", LegalBasis.LEGITIMATE_INTEREST),
        ("marketing", LegalBasis.CONSENT),
        ("consented", LegalBasis.CONSENT),
        ("rights_request", LegalBasis.LEGAL_OBLIGATION),
    ]
)


@st.composite
def items(draw: st.DrawFn) -> ItemFacts:
    purpose, basis = draw(purposes)
    return ItemFacts(draw(days), purpose, basis, draw(st.booleans()))


@st.composite
def subjects(draw: st.DrawFn, *, events: bool = True) -> SubjectFacts:
    status = draw(st.sampled_from([CLIENT, PROSPECT]))
    running = status is CLIENT and draw(st.booleans())
    ended = draw(days) if status is CLIENT and not running else None
    return SubjectFacts(
        status=status,
        engagement_running=running,
        last_engagement_end=ended,
        objection_on=draw(st.none() | days) if events else None,
        consent_withdrawn_on=(
            draw(st.dictionaries(st.sampled_from(["marketing", "consented"]), days))
            if events
            else {}
        ),
        erasure_on=draw(st.none() | days) if events else None,
    )


@given(item=items(), subject=subjects(events=False), extra=st.integers(1, 4000))
def test_extending_a_contract_never_shortens_an_expiry(
    policy: Policy, item: ItemFacts, subject: SubjectFacts, extra: int
) -> None:
    before = compute_expiry(policy, item, [subject]).deletable_from
    if subject.last_engagement_end is None:
        extended = replace(subject, engagement_running=True)
    else:
        extended = replace(
            subject, last_engagement_end=subject.last_engagement_end + timedelta(days=extra)
        )
    after = compute_expiry(policy, item, [extended]).deletable_from
    assert after is None or (before is not None and after >= before)


@given(item=items(), people=st.lists(subjects(events=False), max_size=3))
def test_nothing_expires_before_its_date_without_withdrawal_or_objection(
    policy: Policy, item: ItemFacts, people: list[SubjectFacts]
) -> None:
    deletable = compute_expiry(policy, item, people).deletable_from
    assert deletable is None or deletable > item.item_date


@given(item=items(), people=st.lists(subjects(), min_size=1, max_size=3), extra=subjects())
def test_another_subject_never_shortens_an_expiry(
    policy: Policy, item: ItemFacts, people: list[SubjectFacts], extra: SubjectFacts
) -> None:
    alone = compute_expiry(policy, item, people).deletable_from
    shared = compute_expiry(policy, item, [*people, extra]).deletable_from
    assert shared is None or (alone is not None and shared >= alone)


@given(
    expires=st.none() | st.datetimes(timezones=st.just(UTC)),
    now=st.datetimes(timezones=st.just(UTC)),
)
def test_a_held_item_is_never_selected(expires: datetime | None, now: datetime) -> None:
    assert not is_deletable(expires, held=True, now=now)

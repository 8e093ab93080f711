"""Personnummer and samordningsnummer: forms, date, Luhn, keyed hash, masking."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.errors import PersonnummerError
from models.personnummer import luhn_ok, parse_personnummer

TODAY = date(2026, 11, 30)
# Invented numbers with valid check digits (Skatteverket's published test range style).
VALID = "811218-9876"


@pytest.mark.parametrize(
    "form",
    [
        "811218-9876",
        "8112189876",
        "19811218-9876",
        "198112189876",
        " 811218 - 9876 ".replace(" ", ""),
    ],
)
def test_all_forms_normalise_to_twelve_digits(form: str) -> None:
    number = parse_personnummer(form, today=TODAY)
    assert number.normalized == "198112189876"
    assert number.birth_date == date(1981, 12, 18)
    assert number.masked == "19811218-****"


def test_plus_means_a_century_older() -> None:
    assert parse_personnummer("811218+9876", today=TODAY).birth_date == date(1881, 12, 18)


def test_ten_digit_form_takes_the_latest_century_not_in_the_future() -> None:
    assert parse_personnummer("121212-1212", today=TODAY).birth_date == date(2012, 12, 12)
    assert (
        parse_personnummer("261231-1239", today=TODAY).birth_date.year == 1926
    )  # 2026-12-31 is future


def test_samordningsnummer_has_sixty_added_to_the_day() -> None:
    number = parse_personnummer("701063-2391", today=TODAY)
    assert number.is_coordination_number
    assert number.birth_date == date(1970, 10, 3)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("811218-9875", "check digit"),
        ("811318-9876", "not a real date"),
        ("19810229-1234", "not a real date"),
        ("8112189", "expected YYMMDD"),
        ("abcdef-1234", "expected YYMMDD"),
        ("20991218-9876", "future"),
    ],
)
def test_bad_numbers_are_refused_without_repeating_them(text: str, reason: str) -> None:
    with pytest.raises(PersonnummerError) as caught:
        parse_personnummer(text, today=TODAY)
    assert reason in str(caught.value)
    assert text not in str(caught.value)


def test_keyed_hash_depends_on_the_key_and_hides_the_number() -> None:
    number = parse_personnummer(VALID, today=TODAY)
    one, two = number.keyed_hash(b"k" * 32), number.keyed_hash(b"j" * 32)
    assert one != two and len(one) == 64
    assert "9876" not in one or one.count("9876") == 0 or one != number.normalized
    assert number.keyed_hash(b"k" * 32) == parse_personnummer(
        "198112189876", today=TODAY
    ).keyed_hash(b"k" * 32)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_exactly_one_check_digit_passes_luhn(stem: str) -> None:
    assert sum(luhn_ok(stem + str(d)) for d in range(10)) == 1

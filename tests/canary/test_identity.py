"""The synthetic fødselsnummer: month + 80, century rules, modulus-11 check digits."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.canary.identity import is_valid_synthetic_fnr, synthetic_fnr

K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def mod11(digits: str, weights: Sequence[int]) -> int | None:
    """Written out again here, independently of the module under test."""
    check = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return {11: 0, 10: None}.get(check, check)


def complete(base: str) -> str | None:
    """``base`` (9 digits) with both check digits, or None when one would be 10."""
    k1 = mod11(base, K1)
    if k1 is None:
        return None
    k2 = mod11(base + str(k1), K2)
    return None if k2 is None else f"{base}{k1}{k2}"


def first_valid(date_part: str, individuals: Iterable[int]) -> str:
    for individual in individuals:
        fnr = complete(f"{date_part}{individual:03d}")
        if fnr is not None:
            return fnr
    raise AssertionError("no valid individual number")


def century_of(individual: int, year: int) -> bool:
    return (
        (0 <= individual <= 499 and 1900 <= year <= 1999)
        or (500 <= individual <= 749 and 1854 <= year <= 1899)
        or (500 <= individual <= 999 and 2000 <= year <= 2039)
        or (900 <= individual <= 999 and 1940 <= year <= 1999)
    )


def test_check_digit_rule_matches_ks_examples() -> None:
    """The KS example's (ordinary, non-synthetic) numbers carry check digits computed the same way."""
    assert complete("280713644") == "28071364498"
    assert complete("160816887") == "16081688781"


def test_synthetic_number_has_month_plus_80_and_valid_check_digits() -> None:
    fnr = synthetic_fnr(random.Random(1), dt.date(2016, 5, 17))

    assert fnr[:6] == "178516"
    assert 500 <= int(fnr[6:9]) <= 999  # born in the 2000s
    assert complete(fnr[:9]) == fnr
    assert is_valid_synthetic_fnr(fnr)


def test_same_seed_same_number() -> None:
    birth = dt.date(2012, 12, 31)

    assert synthetic_fnr(random.Random(42), birth) == synthetic_fnr(random.Random(42), birth)


@given(
    birth=st.dates(min_value=dt.date(1854, 1, 1), max_value=dt.date(2039, 12, 31)),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_birth_date_in_range_gets_a_valid_synthetic_number(birth: dt.date, seed: int) -> None:
    fnr = synthetic_fnr(random.Random(seed), birth)

    assert fnr[:6] == f"{birth.day:02d}{birth.month + 80:02d}{birth.year % 100:02d}"
    assert century_of(int(fnr[6:9]), birth.year)
    assert complete(fnr[:9]) == fnr
    assert is_valid_synthetic_fnr(fnr)


@pytest.mark.parametrize("birth", [dt.date(1853, 12, 31), dt.date(2040, 1, 1), dt.date(1, 1, 1)])
def test_birth_year_no_number_can_express_is_refused(birth: dt.date) -> None:
    with pytest.raises(ValueError, match="birth year"):
        synthetic_fnr(random.Random(0), birth)


def test_leap_day_depends_on_the_century_the_individual_number_gives() -> None:
    # 29 February "00": valid in 2000 (individual 500-999), not in 1900 (individual 000-499).
    assert is_valid_synthetic_fnr(first_valid("298200", range(500, 1000)))
    assert not is_valid_synthetic_fnr(first_valid("298200", range(500)))
    assert is_valid_synthetic_fnr(synthetic_fnr(random.Random(3), dt.date(2000, 2, 29)))


@pytest.mark.parametrize(
    ("fnr", "why"),
    [
        ("", "empty"),
        ("1785161234", "10 digits"),
        ("178516123456", "12 digits"),
        ("17851612a45", "a letter"),
        ("1785 612345", "a space"),
        ("١٧٨٥١٦١٢٣٤٥", "non-ASCII digits"),
        (first_valid("170516", range(500, 1000)), "real month, not month + 80"),
        (first_valid("174516", range(500, 1000)), "month + 40 (H-number), not + 80"),
        (first_valid("178016", range(500, 1000)), "month 0 + 80"),
        (first_valid("179316", range(500, 1000)), "month 13 + 80"),
        (first_valid("578516", range(500, 1000)), "day + 40 (D-number)"),
        (first_valid("328516", range(500, 1000)), "day 32"),
        (first_valid("318616", range(500, 1000)), "31 June"),
        (first_valid("298215", range(500, 1000)), "29 February 2015"),
        (first_valid("178545", range(500, 750)), "individual 500-749 with year 45: no century fits"),
    ],
)
def test_malformed_numbers_are_not_valid(fnr: str, why: str) -> None:
    assert not is_valid_synthetic_fnr(fnr), why


def test_wrong_check_digits_are_not_valid() -> None:
    fnr = synthetic_fnr(random.Random(5), dt.date(2016, 5, 17))
    wrong_k1 = fnr[:9] + str((int(fnr[9]) + 1) % 10) + fnr[10]
    wrong_k2 = fnr[:10] + str((int(fnr[10]) + 1) % 10)

    assert not is_valid_synthetic_fnr(wrong_k1)
    assert not is_valid_synthetic_fnr(wrong_k2)


def test_base_whose_check_digit_would_be_ten_is_never_valid() -> None:
    base = next(
        f"1785165{individual:02d}"
        for individual in range(100)
        if mod11(f"1785165{individual:02d}", K1) is None
    )

    assert not any(is_valid_synthetic_fnr(f"{base}{tail:02d}") for tail in range(100))

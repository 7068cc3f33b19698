"""The fictional child's national identity number (fødselsnummer) on every canary.

Receiving systems validate a child's fødselsnummer, so a canary needs one with correct check digits; it
must also never be a real person's. Norway's synthetic test persons (Skatteetaten's Tenor) add 80 to the
birth month, a range no real number uses, so ``DD(MM+80)YY`` can only ever be synthetic.

Layout: ``DDMMYY`` birth date, a 3-digit individual number whose range encodes the birth century, and
two modulus-11 check digits. The century rules:

=============  ==================
individual     birth years
=============  ==================
000-499        1900-1999
500-749        1854-1899
500-999        2000-2039
900-999        1940-1999
=============  ==================
"""

from __future__ import annotations

import datetime as dt
import random

SYNTHETIC_MONTH_OFFSET = 80
K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
FNR_LENGTH = 11

# (first individual number, last individual number, first birth year, last birth year)
_CENTURY_RULES = (
    (0, 499, 1900, 1999),
    (500, 749, 1854, 1899),
    (500, 999, 2000, 2039),
    (900, 999, 1940, 1999),
)


def synthetic_fnr(random: random.Random, birth_date: dt.date) -> str:
    """A valid synthetic fødselsnummer for someone born on ``birth_date`` (month + 80).

    The individual number is drawn from ``random`` (inject a seeded one for repeatable tests) among those
    the birth year allows; numbers whose check digit would be 10 are skipped, as the registry does.
    Raises ``ValueError`` when the year is outside 1854-2039, which no individual number can express.
    """
    candidates = [
        number
        for first, last, first_year, last_year in _CENTURY_RULES
        if first_year <= birth_date.year <= last_year
        for number in range(first, last + 1)
    ]
    if not candidates:
        raise ValueError(f"no fødselsnummer can express birth year {birth_date.year}")
    date_part = (
        f"{birth_date.day:02d}{birth_date.month + SYNTHETIC_MONTH_OFFSET:02d}{birth_date.year % 100:02d}"
    )
    # Drawing without replacement ends after at most every candidate; about 2 in 11 are refused.
    for number in random.sample(candidates, len(candidates)):
        base = f"{date_part}{number:03d}"
        check_digits = _check_digits(base)
        if check_digits is not None:
            return base + check_digits
    raise ValueError(f"no valid individual number for {birth_date.isoformat()}")  # pragma: no cover


def is_valid_synthetic_fnr(fnr: str) -> bool:
    """Whether ``fnr`` is a well-formed synthetic fødselsnummer: 11 digits, month + 80, a real calendar
    date in the century its individual number implies, and both check digits right."""
    if len(fnr) != FNR_LENGTH or not fnr.isascii() or not fnr.isdigit():
        return False
    day, month, year, individual = int(fnr[0:2]), int(fnr[2:4]), int(fnr[4:6]), int(fnr[6:9])
    month -= SYNTHETIC_MONTH_OFFSET
    if not 1 <= month <= 12:
        return False
    if not any(_is_date(full_year, month, day) for full_year in _birth_years(year, individual)):
        return False
    return _check_digits(fnr[:9]) == fnr[9:]


def _birth_years(two_digit_year: int, individual: int) -> list[int]:
    """The full birth years a two-digit year and an individual number can stand for."""
    years = []
    for first, last, first_year, last_year in _CENTURY_RULES:
        if first <= individual <= last:
            for century in (1800, 1900, 2000):
                if first_year <= century + two_digit_year <= last_year:
                    years.append(century + two_digit_year)
    return years


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def _check_digits(base: str) -> str | None:
    """The two check digits for the first nine digits, or ``None`` when either would be 10."""
    k1 = _mod11(base, K1_WEIGHTS)
    if k1 is None:
        return None
    k2 = _mod11(base + str(k1), K2_WEIGHTS)
    if k2 is None:
        return None
    return f"{k1}{k2}"


def _mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(digit) * weight for digit, weight in zip(digits, weights, strict=True)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check

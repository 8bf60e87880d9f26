"""Exact numbers: parsing client decimals, storing rationals, writing answers.

Quantities sent by clients are decimals with at most ``MAX_SCALE`` places.
Kilograms inside the origin engine are ``Fraction`` (a derived split of 1 kg
over 3 outputs is 1/3 kg, exactly); they are rounded half-even only when
written out: kilograms to 12 places, percents to 6.
"""

import re
from decimal import Decimal
from fractions import Fraction

MAX_SCALE = 12
# 15 + 12 digits stay within Decimal's default 28-digit context, so sums and differences are exact.
MAX_INTEGER_DIGITS = 15
KG_PLACES = 12
PERCENT_PLACES = 6

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_DECIMAL_RE = re.compile(DECIMAL_PATTERN)


def parse_decimal(value: object) -> Decimal:
    """A client's decimal: a plain decimal string or a JSON number, never a boolean.

    Exponents, hex, NaN and infinities are refused, and so are more than
    ``MAX_SCALE`` decimal places or ``MAX_INTEGER_DIGITS`` integer digits.
    """
    if isinstance(value, bool):
        raise ValueError("must be a decimal number, not a boolean")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("must be a finite decimal number")
        text = format(value, "f")
    elif isinstance(value, str):
        # As written, never trimmed: " 5 " may be read as 5 by us and as something else by a gateway.
        text = value
    else:
        raise ValueError("must be a decimal number written as a string or a JSON number")
    if not _DECIMAL_RE.fullmatch(text):  # match() would let a final newline through ("$" matches before it)
        raise ValueError('must be a plain decimal such as "12.5" (no exponent, no NaN)')
    integer, _, fraction = text.lstrip("-").partition(".")
    if len(fraction.rstrip("0")) > MAX_SCALE:
        raise ValueError(f"has more than {MAX_SCALE} decimal places")
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"has more than {MAX_INTEGER_DIGITS} integer digits")
    return Decimal(text)


def _round_half_even(numerator: int, denominator: int) -> int:
    """``round(Fraction(numerator, denominator))``, in integers: the nearest integer, ties to even."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    floor, remainder = divmod(numerator, denominator)
    twice = remainder * 2
    if twice < denominator or (twice == denominator and floor % 2 == 0):
        return floor
    return floor + 1


def _scaled(numerator: int, denominator: int, places: int) -> int:
    """``numerator / denominator`` in units of ``10**-places``, rounded half-even."""
    return _round_half_even(numerator * 10**places, denominator)


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def _plain_scaled(units: int, places: int) -> str:
    """``_plain(Decimal(f"{units}E-{places}"))``, written from the integer's digits."""
    digits = str(abs(units)).rjust(places + 1, "0")
    integer, fraction = digits[: len(digits) - places], digits[len(digits) - places :].rstrip("0")
    text = f"{integer}.{fraction}" if fraction else integer
    return f"-{text}" if units < 0 else text


def _format_ratio(numerator: int, denominator: int, places: int) -> str:
    return _plain_scaled(_scaled(numerator, denominator, places), places)


def format_kg(value: Fraction | Decimal) -> str:
    """Kilograms or quantities as written in answers: 12 places, half-even, no trailing zeros."""
    return _format_ratio(*value.as_integer_ratio(), KG_PLACES)


def format_percent(value: Fraction | Decimal) -> str:
    """A percent as written in answers: 6 places, half-even, no trailing zeros."""
    return _format_ratio(*value.as_integer_ratio(), PERCENT_PLACES)


def format_kg_over(numerator: int, denominator: int) -> str:
    """``format_kg(Fraction(numerator, denominator))``, without building the fraction."""
    return _format_ratio(numerator, denominator, KG_PLACES)


def format_share(part: int | Fraction, whole: int | Fraction) -> str:
    """``format_percent(100 * part / whole)`` for a nonzero ``whole``, without the fractions in between."""
    part_numerator, part_denominator = part.as_integer_ratio()
    whole_numerator, whole_denominator = whole.as_integer_ratio()
    numerator = 100 * part_numerator * whole_denominator
    return _format_ratio(numerator, part_denominator * whole_numerator, PERCENT_PLACES)


def format_decimal(value: Decimal) -> str:
    """A stored decimal (quantities, thresholds) written plainly, never in exponent form."""
    return _plain(value)

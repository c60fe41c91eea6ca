"""Venue number formats: prices and sizes as integer ticks / lots, written as decimal strings.

Working in integers (price = ticks * tick, size = lots * 10**-szDecimals) keeps every value
exactly representable, so the strings we write are the venue's strings and never carry
float noise. Prices have at most 5 significant figures and at most `6 - szDecimals`
decimals; integer prices are always allowed and are written with a trailing ".0".
"""

from __future__ import annotations

import math
from decimal import Decimal

MAX_PRICE_DECIMALS = 6
"""Perp prices carry at most `6 - szDecimals` decimals."""


def tick_decimals(max_price: float, sz_decimals: int) -> int:
    """Decimals of the finest price grid that is valid for every price up to `max_price`.

    5 significant figures at the top of the range give the tick; the decimals cap
    (6 - szDecimals) and the integer rule (tick never coarser than 1) bound it.
    """
    if not math.isfinite(max_price) or max_price <= 0:
        raise ValueError(f"max_price must be a positive number, got {max_price!r}")
    magnitude = math.floor(math.log10(max_price))
    decimals = 4 - magnitude
    return max(0, min(decimals, MAX_PRICE_DECIMALS - sz_decimals))


def fixed_to_str(units: int, decimals: int) -> str:
    """`units * 10**-decimals` as the venue writes it: trailing zeros stripped, at least ".0"."""
    if decimals == 0:
        return f"{units}.0"
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(decimals + 1, "0")
    whole, frac = digits[:-decimals], digits[-decimals:].rstrip("0")
    return f"{sign}{whole}.{frac or '0'}"


def float_to_str(value: float, decimals: int) -> str:
    """A float rounded to `decimals` places, in the same stripped style (for ctx fields)."""
    return fixed_to_str(round(value * 10**decimals), decimals)


def is_valid_price(text: str, sz_decimals: int) -> bool:
    """True if `text` is a valid perp order price: integer, or ≤ 5 sig figs and few decimals."""
    value = Decimal(text)
    if value <= 0:
        return False
    if value == value.to_integral_value():
        return True
    sign, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)
    decimals = -exponent if exponent < 0 else 0
    return len(digits) <= 5 and decimals <= MAX_PRICE_DECIMALS - sz_decimals


def is_valid_size(text: str, sz_decimals: int) -> bool:
    """True if `text` is a positive size with at most szDecimals decimals."""
    value = Decimal(text)
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return value > 0 and max(0, -exponent) <= sz_decimals

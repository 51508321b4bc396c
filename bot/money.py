"""Money as integer minor units plus an ISO 4217 code; parsing and Babel formatting."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision, is_currency

_PLAIN_DECIMAL = re.compile(r"-?\d{1,18}(\.\d+)?")


class MoneyError(ValueError):
    """An amount or currency that cannot be accepted; the message says why, politely."""


@lru_cache(maxsize=512)  # a portfolio names a few currencies a million times
def check_currency(code: str) -> str:
    """Return the upper-cased ISO 4217 code, or raise if Babel does not know it."""
    code = code.strip().upper()
    if len(code) != 3 or not is_currency(code):
        raise MoneyError(f"{code or '(empty)'} is not an ISO 4217 currency code")
    return code


def to_minor(text: str, currency: str, *, allow_zero: bool = False) -> int:
    """Parse a plain decimal like ``1234.50`` into minor units of ``currency``."""
    raw = text.strip()
    if not _PLAIN_DECIMAL.fullmatch(raw):
        raise MoneyError(f"{raw or '(empty)'} is not a plain number like 1234.50")
    value = Decimal(raw)
    if value < 0 or (value == 0 and not allow_zero):
        raise MoneyError(f"{raw} must be greater than zero")
    precision = _precision(currency)
    scaled = value.scaleb(precision)
    if scaled != scaled.to_integral_value():
        if precision == 0:
            raise MoneyError(f"{raw}: {currency} has no decimal places")
        raise MoneyError(f"{raw} has more than {precision} decimal places for {currency}")
    return int(scaled)


@lru_cache(maxsize=512)
def _precision(currency: str) -> int:
    return get_currency_precision(currency)


def from_minor(minor: int, currency: str) -> Decimal:
    """Minor units back to an exact decimal amount."""
    return Decimal(minor).scaleb(-get_currency_precision(currency))


@lru_cache(maxsize=8192)
def format_money(minor: int, currency: str, locale: str) -> str:
    """Format an amount for a reader in ``locale``, e.g. ``$1,234.50`` or ``US$1,234.50``.

    Remembered: the same balances are shown again and again, and Babel's formatting costs
    more than the rest of a summary."""
    return format_currency(from_minor(minor, currency), currency, locale=locale)

"""Reading dates and amounts as people type them, in their own language (pure)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.dates import format_date
from babel.numbers import NumberFormatError, format_decimal, parse_decimal

# ASCII digits only: NFKC folds full-width digits to them; other scripts' digits stay out.
_ZH_DATE = re.compile(r"(?:([0-9]{4})\s*年)?\s*([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*[日号]?")
_NUMERIC = re.compile(r"([0-9]{1,4})\s*[./\-]\s*([0-9]{1,2})(?:\s*[./\-]\s*([0-9]{1,4}))?")
_CURRENCY_WORDS = re.compile(r"(?i)\b[a-z]{3}\b|元|块钱|块|圆")
_AMOUNT_CHARS = re.compile(r"[0-9.,\s'’-]+")
_WORDS = re.compile(r"[^\W\d_]+|[0-9]+", re.UNICODE)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _resolve(year: int | None, month: int, day: int, today: date) -> date | None:
    """A date from parts; without a year, the next such date from today."""
    try:
        if year is not None:
            return date(year if year >= 100 else 2000 + year, month, day)
        candidate = date(today.year, month, day)
    except ValueError:
        return None
    return candidate if candidate >= today else _resolve(today.year + 1, month, day, today)


def parse_user_date(text: str, locale: str, today: date) -> date | None:
    """``2026-12-05``, ``5 December``, ``Dec 5``, ``12/5`` (in the locale's order),
    ``12月5日``, ``today``/``tomorrow``/``今天``/``明天``; None if it cannot be read."""
    folded = _fold(text)
    if not folded:
        return None
    relative = {"today": 0, "tomorrow": 1, "今天": 0, "明天": 1, "后天": 2}
    if folded in relative:
        return today + timedelta(days=relative[folded])
    try:
        return date.fromisoformat(folded)
    except ValueError:
        pass
    if match := _ZH_DATE.fullmatch(folded):
        year = int(match.group(1)) if match.group(1) else None
        return _resolve(year, int(match.group(2)), int(match.group(3)), today)
    loc = Locale.parse(locale)
    months = {}
    for width in ("wide", "abbreviated"):
        for number, name in loc.months["format"][width].items():
            months[_fold(name).rstrip(".")] = number
    words = _WORDS.findall(folded)
    month = next((months[w] for w in words if w in months), None)
    numbers = [int(w) for w in words if w.isascii() and w.isdigit() and len(w) <= 4]
    if month is not None and numbers:
        day = next((n for n in numbers if 1 <= n <= 31), None)
        year = next((n for n in numbers if n > 31), None)
        return _resolve(year, month, day, today) if day else None
    if match := _NUMERIC.fullmatch(folded):
        first, second, third = (int(g) if g else None for g in match.groups())
        if first is not None and first > 31:  # 2026/12/5
            return _resolve(first, second, third, today) if third else None
        # The locale's short date pattern says whether the month or the day comes first.
        pattern = loc.date_formats["short"].pattern.lower()
        month_first = pattern.find("m") < pattern.find("d")
        month_, day_ = (first, second) if month_first else (second, first)
        return _resolve(third, month_, day_, today)
    return None


def date_example(locale: str, today: date) -> str:
    """A sample date written the way people in ``locale`` write it."""
    return format_date(today + timedelta(days=7), "long", locale=locale)


def parse_user_amount(text: str, locale: str) -> Decimal | None:
    """``1,234.50``, ``1234,50``, ``$ 80``, ``80元``, ``USD 80`` as written in ``locale``."""
    folded = unicodedata.normalize("NFKC", text)
    without_money = "".join(ch for ch in folded if unicodedata.category(ch) != "Sc")
    cleaned = _CURRENCY_WORDS.sub(" ", without_money).strip()
    if not _AMOUNT_CHARS.fullmatch(cleaned) or not any(ch.isdigit() for ch in cleaned):
        return None
    try:
        value = parse_decimal(cleaned, locale=locale, strict=True)
    except (NumberFormatError, InvalidOperation):
        try:
            value = Decimal(cleaned.replace(",", "").replace(" ", ""))
        except InvalidOperation:
            return None
    return value if value.is_finite() else None


def amount_example(locale: str) -> str:
    """A sample amount written the way people in ``locale`` write it."""
    return format_decimal(Decimal("80.50"), locale=locale)

"""Reading dates and amounts as people type them, in their own language (pure)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.dates import format_date
from babel.numbers import (
    NumberFormatError,
    format_decimal,
    get_currency_symbol,
    is_currency,
    parse_decimal,
)

# ASCII digits only: NFKC folds full-width digits to them; other scripts' digits stay out.
_ZH_DATE = re.compile(r"(?:([0-9]{4})\s*年)?\s*([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*[日号]?")
_NUMERIC = re.compile(r"([0-9]{1,4})\s*[./\-]\s*([0-9]{1,2})(?:\s*[./\-]\s*([0-9]{1,4}))?")
_CURRENCY_WORDS = re.compile(r"(?i)\b[a-z]{3}\b|元|块钱|块|圆")
_AMOUNT_CHARS = re.compile(r"[0-9.,\s'’-]+")
_WORDS = re.compile(r"[^\W\d_]+|[0-9]+", re.UNICODE)
_SPACES = re.compile(r"\s+")
_RELATIVE = {
    "today": 0, "tonight": 0, "tomorrow": 1, "day after tomorrow": 2,
    "今天": 0, "今晚": 0, "明天": 1, "后天": 2,
}  # fmt: skip
# 下周五 is Friday of next week; 周五 and 这周五 the coming Friday (today if it is Friday).
_ZH_WEEKDAY = re.compile(r"(下个?|这个?|本)?(?:周|星期|礼拜)([一二三四五六日天])")
_ZH_DAYS = "一二三四五六日"  # index = weekday (Monday 0); 天 is another way to say 日
_NEXT_WORDS = frozenset({"next"})
_IN_DAYS = re.compile(
    r"in\s+([0-9]{1,3})\s+(days?|weeks?)|([0-9]{1,3})\s*(天|个?星期|个?礼拜|周)(?:以?后|之后)"
)
# Inside a longer message (folded): where a date may be written. ``find_date`` hands what it
# finds to ``parse_user_date``; "." separates a date only with three parts (12.50 is money).
_NOT_LETTER_BEFORE, _NOT_LETTER_AFTER = r"(?<![^\W\d_])", r"(?![^\W\d_])"
_DATE_IN_TEXT = (
    re.compile(r"(?<![0-9.,/\-])[0-9]{1,4}[/\-][0-9]{1,2}(?:[/\-][0-9]{1,4})?(?![0-9/\-])"),
    re.compile(r"(?<![0-9.,])[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{2,4}(?![0-9.])"),
    re.compile(r"(?<![0-9])(?:[0-9]{4}\s*年\s*)?[0-9]{1,2}\s*月\s*[0-9]{1,2}(?![0-9])\s*[日号]?"),
    _ZH_WEEKDAY,
    re.compile(
        _NOT_LETTER_BEFORE
        + r"(?:day after tomorrow|today|tonight|tomorrow)"
        + _NOT_LETTER_AFTER
        + r"|今天|今晚|明天|后天"
    ),
    re.compile(
        _NOT_LETTER_BEFORE
        + r"in\s+[0-9]{1,3}\s+(?:days?|weeks?)"
        + _NOT_LETTER_AFTER
        + r"|(?<![0-9])[0-9]{1,3}\s*(?:天|个?星期|个?礼拜|周)(?:以?后|之后)"
    ),
)
_NUMBER_IN_TEXT = re.compile(r"(?<![0-9])[0-9](?:[0-9,.'’]*[0-9])?")
_CODE_BEFORE, _CODE_AFTER = re.compile(r"(?<![a-z])[a-z]{3}$"), re.compile(r"[a-z]{3}(?![a-z])")


@dataclass(frozen=True)
class Found:
    """Words found inside a longer text, and where (``text[start:end]``)."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class AmountInText:
    """A number inside a longer text: its value (None if unreadable), whether a currency sign,
    code or 元/块 is written next to it, and where."""

    value: Decimal | None
    marked: bool
    start: int
    end: int


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def fold(text: str) -> str:
    """A free-text message as ``find_date`` and ``amounts_in`` read it: NFKC, case-folded,
    one space between words, ’ as '."""
    return _SPACES.sub(" ", _fold(text)).replace("’", "'")


@lru_cache(maxsize=64)
def _names(locale: str) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Month names (any width), weekday names (any width) and full weekday names, folded."""
    loc = Locale.parse(locale)
    months: dict[str, int] = {}
    days: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in loc.months["format"][width].items():
            months[_fold(name).rstrip(".")] = number
        for number, name in loc.days["format"][width].items():
            days[_fold(name).rstrip(".")] = number
    wide = {_fold(name): number for number, name in loc.days["format"]["wide"].items()}
    return months, days, wide


def _resolve(year: int | None, month: int, day: int, today: date) -> date | None:
    """A date from parts; without a year, the next such date from today."""
    try:
        if year is not None:
            return date(year if year >= 100 else 2000 + year, month, day)
        candidate = date(today.year, month, day)
    except ValueError:
        return None
    return candidate if candidate >= today else _resolve(today.year + 1, month, day, today)


def _weekday(today: date, weekday: int, next_week: bool) -> date | None:
    """The coming ``weekday`` (today counts), or that day of next week (weeks start Monday)."""
    try:
        if next_week:
            return today + timedelta(days=7 - today.weekday() + weekday)
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    except OverflowError:
        return None


def _in_days(match: re.Match[str], today: date) -> date | None:
    count = int(match.group(1) or match.group(3))
    unit = match.group(2) or match.group(4)
    try:
        return today + timedelta(days=count * (1 if unit.startswith(("day", "天")) else 7))
    except OverflowError:
        return None


def parse_user_date(text: str, locale: str, today: date) -> date | None:
    """``2026-12-05``, ``5 December``, ``Dec 5``, ``12/5`` (in the locale's order),
    ``12月5日``, ``today``/``tomorrow``/``今天``/``明天``, ``Friday``/``next Friday``/``周五``/
    ``下周五``, ``in 3 days``/``3天后``; None if it cannot be read."""
    folded = _fold(text)
    if not folded:
        return None
    if folded in _RELATIVE:
        return today + timedelta(days=_RELATIVE[folded])
    try:
        return date.fromisoformat(folded)
    except ValueError:
        pass
    if match := _ZH_DATE.fullmatch(folded):
        year = int(match.group(1)) if match.group(1) else None
        return _resolve(year, int(match.group(2)), int(match.group(3)), today)
    if match := _ZH_WEEKDAY.fullmatch(folded.replace(" ", "")):
        weekday = _ZH_DAYS.index(match.group(2).replace("天", "日"))
        return _weekday(today, weekday, (match.group(1) or "").startswith("下"))
    if match := _IN_DAYS.fullmatch(folded):
        return _in_days(match, today)
    loc = Locale.parse(locale)
    months, days, _ = _names(locale)
    words = _WORDS.findall(folded)
    month = next((months[w] for w in words if w in months), None)
    numbers = [int(w) for w in words if w.isascii() and w.isdigit() and len(w) <= 4]
    if month is not None and numbers:
        day = next((n for n in numbers if 1 <= n <= 31), None)
        year = next((n for n in numbers if n > 31), None)
        return _resolve(year, month, day, today) if day else None
    weekdays = {days[w] for w in words if w in days}
    if len(weekdays) == 1 and not numbers:
        return _weekday(today, weekdays.pop(), any(w in _NEXT_WORDS for w in words))
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


@lru_cache(maxsize=64)
def _dates_in_text(locale: str) -> tuple[re.Pattern[str], ...]:
    """The patterns of ``_DATE_IN_TEXT`` plus the locale's month and weekday names."""
    months, _, wide_days = _names(locale)
    month = "|".join(re.escape(m) for m in sorted(months, key=len, reverse=True) if m)
    day = "|".join(re.escape(d) for d in sorted(wide_days, key=len, reverse=True) if d)
    ordinal, year = r"(?:st|nd|rd|th)?", r"(?:,?\s*[0-9]{4}(?![0-9]))?"
    return (
        *_DATE_IN_TEXT,
        re.compile(
            rf"{_NOT_LETTER_BEFORE}(?:{month})\.?\s*[0-9]{{1,2}}{ordinal}(?![0-9]){year}"
            rf"|(?<![0-9])[0-9]{{1,2}}{ordinal}\s*(?:of\s+)?(?:{month}){_NOT_LETTER_AFTER}\.?{year}"
        ),
        re.compile(
            rf"{_NOT_LETTER_BEFORE}(?:(?:next|this|coming)\s+)?(?:{day}){_NOT_LETTER_AFTER}"
        ),
    )


def find_date(text: str, locale: str) -> Found | None:
    """The first date written inside a longer, folded message ("I can pay on 12/15"), or None.

    What is found is for ``parse_user_date``, which may still read no real day in it (13/45).
    """
    hits = [m for pattern in _dates_in_text(locale) if (m := pattern.search(text))]
    if not hits:
        return None
    first = min(hits, key=lambda m: (m.start(), -m.end()))
    return Found(first.group(0).strip(), first.start(), first.end())


def amounts_in(text: str, locale: str) -> list[AmountInText]:
    """Every number inside a longer, folded message, read as an amount in ``locale``."""
    found = []
    for match in _NUMBER_IN_TEXT.finditer(text):
        start, end = match.span()
        before, after = text[max(0, start - 8) : start].rstrip(), text[end : end + 8].lstrip()
        value = parse_user_amount(match.group(0), locale)
        found.append(AmountInText(value, _money_marked(before, after), start, end))
    return found


def _money_marked(before: str, after: str) -> bool:
    """Whether a currency sign, an ISO code or 元/块 is written right before or after."""
    if any(unicodedata.category(ch) == "Sc" for ch in (before[-1:], after[:1]) if ch):
        return True
    codes = (_CODE_BEFORE.search(before), _CODE_AFTER.match(after))
    return after.startswith(("元", "块", "圆")) or any(
        code is not None and is_currency(code.group(0).upper()) for code in codes
    )


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


# Currencies named in Chinese; the longer names first, so that 日元 is not read as 元.
_CHINESE_CURRENCIES = {
    "人民币": "CNY", "美元": "USD", "美金": "USD", "欧元": "EUR", "英镑": "GBP", "日元": "JPY",
    "港元": "HKD", "港币": "HKD", "元": "CNY", "块": "CNY", "圆": "CNY",
}  # fmt: skip
_CHINESE_CURRENCY = re.compile("|".join(sorted(_CHINESE_CURRENCIES, key=len, reverse=True)))
_CODE = re.compile(r"(?<![A-Za-z])[A-Za-z]{3}(?![A-Za-z])")
# ISO codes people type in lower case; other three-letter words count only in capitals ("all"
# and "try" are words, ALL and TRY currencies).
_LOWER_CASE_CODES = frozenset({"usd", "eur", "gbp", "cny", "rmb", "jpy", "cad", "aud", "hkd"})


def currency_marks(text: str) -> list[str]:
    """The currencies a message names: signs as written ($, €, ¥), codes (EUR) and Chinese
    names (美元, 元) as ISO codes."""
    folded = unicodedata.normalize("NFKC", text)
    marks = [ch for ch in folded if unicodedata.category(ch) == "Sc"]
    for token in _CODE.findall(folded):
        code = "CNY" if token.upper() == "RMB" else token.upper()
        if (token.isupper() or token.lower() in _LOWER_CASE_CODES) and is_currency(code):
            marks.append(code)
    marks += [_CHINESE_CURRENCIES[name] for name in _CHINESE_CURRENCY.findall(folded)]
    return marks


def fits_currency(mark: str, currency: str, locale: str) -> bool:
    """Whether a mark ``currency_marks`` found can mean ``currency`` ($ can mean CA$)."""
    if len(mark) == 3 and mark.isalpha():
        return mark == currency
    symbols = {get_currency_symbol(currency, at) for at in (locale, "en", "zh_CN")}
    return any(mark in symbol for symbol in symbols)


def amount_example(locale: str) -> str:
    """A sample amount written the way people in ``locale`` write it."""
    return format_decimal(Decimal("80.50"), locale=locale)

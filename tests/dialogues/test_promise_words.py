"""Reading a promise out of free text: which messages are promises, the date and the amount."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.dialogues.intents import PromiseWords, detect, promise_words
from bot.dialogues.parsing import (
    currency_marks,
    find_date,
    fits_currency,
    fold,
    parse_user_date,
)

TUESDAY = date(2026, 12, 1)
FRIDAY, NEXT_FRIDAY = date(2026, 12, 4), date(2026, 12, 11)


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("Friday", "en_US", FRIDAY),
        ("on friday", "en_US", FRIDAY),
        ("Fri", "en_US", FRIDAY),
        ("next Friday", "en_US", NEXT_FRIDAY),
        ("this friday", "en_US", FRIDAY),
        ("Tuesday", "en_US", TUESDAY),  # today is Tuesday: the coming one is today
        ("周五", "zh_CN", FRIDAY),
        ("星期五", "zh_CN", FRIDAY),
        ("下周五", "zh_CN", NEXT_FRIDAY),
        ("下个礼拜五", "zh_CN", NEXT_FRIDAY),
        ("周日", "zh_CN", date(2026, 12, 6)),
        ("下周天", "zh_CN", date(2026, 12, 13)),
        ("in 3 days", "en_US", date(2026, 12, 4)),
        ("in 2 weeks", "en_US", date(2026, 12, 15)),
        ("3天后", "zh_CN", date(2026, 12, 4)),
        ("2个星期以后", "zh_CN", date(2026, 12, 15)),
        ("day after tomorrow", "en_US", date(2026, 12, 3)),
        ("后天", "zh_CN", date(2026, 12, 3)),
        ("friday 12/5", "en_US", None),  # a weekday and a number: not a weekday
        ("friday monday", "en_US", None),
        ("next blue moon", "en_US", None),
    ],
)
def test_weekdays_and_days_from_now_are_read(text: str, locale: str, expected: date | None):
    assert parse_user_date(text, locale, TUESDAY) == expected


@pytest.mark.parametrize(
    ("text", "locale", "found"),
    [
        ("i can pay on 12/15, thanks", "en_US", "12/15"),
        ("i'll pay 50 on friday", "en_US", "friday"),
        ("i'll pay next friday", "en_US", "next friday"),
        ("pay on december 15th, 2026 ok", "en_US", "december 15th, 2026"),
        ("i'll pay on the 15th of december", "en_US", "15th of december"),
        ("我下周五还", "zh_CN", "下周五"),
        ("12月15日还款", "zh_CN", "12月15日"),
        ("2026年1月5日还", "zh_CN", "2026年1月5日"),
        ("pay 2026-12-15", "en_US", "2026-12-15"),
        ("pay 15.12.2026", "de_DE", "15.12.2026"),
        ("i will pay tomorrow", "en_US", "tomorrow"),
        ("明天还", "zh_CN", "明天"),
        ("i will pay in 2 weeks", "en_US", "in 2 weeks"),
    ],
)
def test_a_date_is_found_inside_a_sentence(text: str, locale: str, found: str):
    assert find_date(fold(text), locale).text == found


@pytest.mark.parametrize(
    "text",
    [
        "i can pay 12.50",  # money, not the 50th of December
        "account acc-1001",
        "call 555-0132",
        "i may pay",  # May without a day
        "i sat down",  # "Sat" is a weekday only at the date question
        "saturdays",
        "no date here",
        "",
    ],
)
def test_no_date_is_found_where_there_is_none(text: str):
    assert find_date(fold(text), "en_US") is None


@pytest.mark.parametrize(
    ("text", "locale", "item"),
    [
        ("I will pay on Friday", "en_US", "promise"),
        ("I can pay 12/15", "en_US", "promise"),
        ("I can pay 50 on Friday", "en_US", "promise"),
        ("Can I pay tomorrow?", "en_US", "promise"),
        ("我下周五还", "zh_CN", "promise"),
        ("12月15日还款", "zh_CN", "promise"),
        ("周五还500元", "zh_CN", "promise"),
        ("不好意思，我下周五还", "zh_CN", "promise"),
        ("对不起，12月15日还款", "zh_CN", "promise"),
        ("I will pay", "en_US", "promise"),  # a promise without a date: the date question
        ("I can't pay on Friday", "en_US", "cant_pay"),
        ("I cannot pay until 12/15", "en_US", "cant_pay"),
        ("今天还不了", "zh_CN", "cant_pay"),
        ("明天还不上", "zh_CN", "cant_pay"),
        ("I can pay monthly from 12/15", "en_US", "plan"),
        ("How much do I owe on Friday?", "en_US", "balance"),
        ("I already paid on 12/1", "en_US", None),
        ("12月1日已经还了", "zh_CN", None),
        ("Friday", "en_US", None),  # a date alone says nothing about paying
    ],
)
def test_which_messages_are_promises(text: str, locale: str, item: str | None):
    assert detect(text, locale) == item


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("I will pay on Friday", "en_US", PromiseWords(True, FRIDAY, None)),
        ("I can pay 50 on Friday", "en_US", PromiseWords(True, FRIDAY, Decimal(50))),
        (
            "I'll pay $1,234.50 next friday",
            "en_US",
            PromiseWords(True, NEXT_FRIDAY, Decimal("1234.50")),
        ),
        (
            "I will pay tomorrow, 80 USD",
            "en_US",
            PromiseWords(True, date(2026, 12, 2), Decimal(80)),
        ),
        ("I can pay 12/15", "en_US", PromiseWords(True, date(2026, 12, 15), None)),
        ("I can pay 12/15", "en_GB", PromiseWords(True, None, None)),  # day first: no 15th month
        ("I can pay 13/45", "en_US", PromiseWords(True, None, None)),
        ("I can pay on 2099-01-01", "en_US", PromiseWords(True, date(2099, 1, 1), None)),
        ("我下周五还", "zh_CN", PromiseWords(True, NEXT_FRIDAY, None)),
        ("12月15日还款", "zh_CN", PromiseWords(True, date(2026, 12, 15), None)),
        ("12月15日还款1000元", "zh_CN", PromiseWords(True, date(2026, 12, 15), Decimal(1000))),
        ("周五还500", "zh_CN", PromiseWords(True, FRIDAY, Decimal(500))),
        ("2月30日还款", "zh_CN", PromiseWords(True, None, None)),
        # Not clearly an amount: nothing is filled in, the amount question is asked.
        ("I will pay in 2 weeks", "en_US", PromiseWords(True, date(2026, 12, 15), None)),
        ("I'll pay 50 or 60 on Friday", "en_US", PromiseWords(True, FRIDAY, None)),
        ("I'll pay ACC-1001 50 on Friday", "en_US", PromiseWords(True, FRIDAY, None)),
        ("On Friday I get 300 and pay", "en_US", PromiseWords(True, FRIDAY, None)),
        ("I will pay", "en_US", PromiseWords(False, None, None)),
    ],
)
def test_the_date_and_amount_of_a_promise(text: str, locale: str, expected: PromiseWords):
    assert promise_words(text, locale, TUESDAY) == expected


def test_long_and_odd_texts_are_read_quickly():
    import time

    texts = [" " * 5000, "1/" * 2500, "12月" * 1250, "pay 1" * 1000, "friday " * 700]
    started = time.perf_counter()
    for text in texts:
        detect(text, "en_US")
        promise_words(text, "en_US", TUESDAY)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("text", "marks"),
    [
        ("50", []),
        ("$50", ["$"]),
        ("€50", ["€"]),
        ("50 EUR", ["EUR"]),
        ("50 eur", ["EUR"]),
        ("usd 80", ["USD"]),
        ("80 RMB", ["CNY"]),
        ("￥500", ["¥"]),
        ("100元", ["CNY"]),
        ("100块", ["CNY"]),
        ("100日元", ["JPY"]),
        ("5 美元", ["USD"]),
        ("500 人民币", ["CNY"]),
        # Words that are also ISO codes count only in capitals.
        ("I'll pay all 50, try friday", []),
        ("I'll pay ALL 50", ["ALL"]),
    ],
)
def test_the_currencies_a_message_names(text: str, marks: list[str]):
    assert currency_marks(text) == marks


@pytest.mark.parametrize(
    ("mark", "currency", "locale", "fits"),
    [
        ("$", "USD", "en_US", True),
        ("$", "CAD", "en", True),
        ("$", "CNY", "zh_CN", False),
        ("€", "USD", "en_US", False),
        ("¥", "CNY", "zh_CN", True),
        ("¥", "CNY", "en_US", True),
        ("¥", "USD", "en_US", False),
        ("USD", "USD", "en_US", True),
        ("EUR", "USD", "en_US", False),
        ("CNY", "CNY", "zh_CN", True),
    ],
)
def test_which_marks_can_mean_the_account_currency(mark, currency, locale, fits):
    assert fits_currency(mark, currency, locale) is fits

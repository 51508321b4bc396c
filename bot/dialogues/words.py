"""Recognising what a free-text message asks for, in each language (keyword rules, pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.dialogues.parsing import amounts_in, find_date, fold, parse_user_date

# Menu items and the phrases that ask for them, first match wins. Stop requests never get here.
_RULES: tuple[tuple[str, str], ...] = (
    ("person", "person|human|agent|someone real|call me|人工|客服|真人|工作人员"),
    (
        "dispute",
        "dispute|not mine|don't owe|do not owe|wrong amount|complain|fraud|异议|投诉|不是我的|搞错",
    ),
    (
        "cant_pay",
        "can't pay|cannot pay|can not pay|unable to pay|lost my job|no money|hardship|还不起|还不了|还不上|付不起|付不了|没法还|无法还|不能还|没钱|失业|困难",
    ),
    ("plan", "plan|installment|instalment|monthly|split|分期|分几次|每月"),
    (
        "promise",
        "promise|i will pay|i'll pay|pay on|pay by|pay next|承诺|保证|会还|我会付|下周还|明天还",
    ),
    ("language", "language|english|chinese|中文|语言|英文"),
    ("balance", "balance|how much|owe|amount due|pay|欠|多少钱|余额|还款|付款|支付"),
)
# "Pay" and a date ("I can pay 12/15", "我下周五还") is a promise too, unless it is said not to
# be or to be past ("I did not pay on Friday", "12月1日已经还了").
_PAYS = re.compile(r"(?<![a-z])pay(?![a-z])|还|付")
_NOT_A_PROMISE = re.compile(r"(?<![a-z])(?:not|never|already|paid)(?![a-z])|n't|不|没|无法|已")
# Courtesies that contain 不 or 没 without denying anything ("不好意思，我下周五还").
_COURTESIES = re.compile(r"不好意思|对不起|没问题|没关系")
# An amount in a promise counts when written with a currency or right after these words.
_AMOUNT_AFTER = ("pay", "pay you", "还", "还款", "还钱", "付", "付款", "支付")


@dataclass(frozen=True)
class PromiseWords:
    """What a free-text promise says: whether it names a date, that date (None when it is no
    real day, like 2/30), and an amount when exactly one is written and clearly is one."""

    dated: bool
    day: date | None
    amount: Decimal | None


def detect(text: str, locale: str = "en") -> str | None:
    """The menu item a message asks for, or None."""
    folded = fold(text)
    if not folded:
        return None
    for item, phrases in _RULES:
        if any(phrase in folded for phrase in phrases.split("|")):
            return item
        if item == "promise" and _pays_on_a_date(folded, locale):
            return item
    return None


def _pays_on_a_date(folded: str, locale: str) -> bool:
    return bool(
        _PAYS.search(folded)
        and not _NOT_A_PROMISE.search(_COURTESIES.sub(" ", folded))
        and find_date(folded, locale) is not None
    )


def promise_words(text: str, locale: str, today: date) -> PromiseWords:
    """The date and amount written in a message like "I can pay 50 on Friday" or "周五还500元"."""
    folded = fold(text)
    found = find_date(folded, locale)
    if found is None:
        return PromiseWords(dated=False, day=None, amount=None)
    day = parse_user_date(found.text, locale, today)
    # The date's own digits are not an amount; blanks keep the words around it apart.
    rest = folded[: found.start] + " " * (found.end - found.start) + folded[found.end :]
    numbers = amounts_in(rest, locale)
    amount = None
    if len(numbers) == 1:
        number = numbers[0]
        after_pay = rest[: number.start].rstrip().endswith(_AMOUNT_AFTER)
        if number.value is not None and number.value > 0 and (number.marked or after_pay):
            amount = number.value
    return PromiseWords(dated=True, day=day, amount=amount)

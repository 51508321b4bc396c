"""What a free-text promise says: that it pays on a date, which date, and how much (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.dialogues.parsing import amounts_in, find_date, fold, parse_user_date

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


def pays_on_a_date(folded: str, locale: str) -> bool:
    """Whether a folded message says it pays on a date ("I can pay 12/15", "我下周五还")."""
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

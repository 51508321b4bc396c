"""Promise to pay: which account, by when, how much, then confirm (see promise.mmd).

Free text that asks for it may already say when (and how much): "I can pay 50 on Friday",
"我下周五还". Those answers are taken as if typed at their steps, in the usual order.
Nothing is stored until the debtor confirms; the promise is committed before the bot says so.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bot import labels
from bot.channel import Button
from bot.db.models import Account
from bot.dialogues.engine import Turn, arg_date, arg_int, flow_account
from bot.dialogues.parsing import (
    amount_example,
    currency_marks,
    date_example,
    find_date,
    fold,
    parse_user_amount,
    parse_user_date,
)
from bot.dialogues.registry import Command, Dialogue, MenuButton, Words
from bot.dialogues.words import pays_on_a_date, promise_words
from bot.money import MoneyError, to_minor
from bot.promises.agreements import make_promise

FLOW = "promise"
ACCOUNT, DATE, AMOUNT, CONFIRM = "account", "date", "amount", "confirm"


async def open_promise(turn: Turn, said: str = "") -> None:
    """Promise to pay (menu, /promise, words); say why not when nothing is owed."""
    if not await start(turn, said):
        await turn.not_started()


async def start(turn: Turn, said: str = "") -> bool:
    """Begin a promise; False when there is nothing to promise.

    ``said`` is the free text that asked for it ("I can pay 50 on Friday"): a date in it skips
    the date question, an amount in it the amount question; the summary is always shown.
    """
    accounts = await turn.open_accounts()
    if not accounts:
        return False
    noted = _noted(turn, said)
    if len(accounts) == 1:
        await _after_account(turn, accounts[0].id, noted)
    else:
        # The account comes first as always; what was said waits in the flow data until then.
        turn.goto(FLOW, ACCOUNT, **noted)
        await prompt(turn)
    return True


def _noted(turn: Turn, said: str) -> dict[str, Any]:
    """What a free-text promise says, as flow data: ``said_date`` (ISO), or ``said_date``
    None when the date written is no real day; ``said_amount`` (a decimal string)."""
    if not said:
        return {}
    words = promise_words(said, turn.debtor.locale, turn.today)
    if not words.dated:
        return {}
    noted: dict[str, Any] = {"said_date": words.day.isoformat() if words.day else None}
    if words.amount is not None and words.day is not None:
        noted["said_amount"] = str(words.amount)
        # Checked against the account's currency once the account is chosen.
        noted["said_currencies"] = currency_marks(said)
    return noted


async def _after_account(turn: Turn, account_id: int, noted: dict[str, Any]) -> None:
    """Go on from a chosen account: to the date question, or past it with a date said."""
    turn.goto(FLOW, DATE, account_id=account_id)
    if "said_date" not in noted:
        await prompt(turn)
        return
    said = noted["said_date"]
    chosen = date.fromisoformat(said) if said else None
    problem = _date_problem(turn, chosen) if chosen else None
    if chosen is None or problem:
        # Say what is wrong with the date in the message, then ask for one as usual.
        turn.say(problem or turn._(labels.PROMISE_DATE_IN_TEXT_UNREADABLE))
        await prompt(turn)
        return
    turn.goto(FLOW, AMOUNT, account_id=account_id, date=chosen.isoformat())
    if "said_amount" in noted:
        account = await flow_account(turn)
        problem, minor = _check_amount(
            turn, Decimal(noted["said_amount"]), noted.get("said_currencies", []), account
        )
        if problem:
            turn.say(problem)
        else:
            turn.goto(FLOW, CONFIRM, **turn.state.data, amount_minor=minor)
    await prompt(turn)


async def prompt(turn: Turn) -> None:
    """Ask what the current step needs."""
    _, step = turn._, turn.state.step
    if step == ACCOUNT:
        rows = [
            [
                turn.button(
                    f"{a.account_ref} · {_money(turn, a.amount_due_minor, a)}", f"p:acc:{a.id}"
                )
            ]
            for a in await turn.open_accounts()
        ]
        turn.say(_(labels.PROMISE_WHICH_ACCOUNT), [*rows, turn.cancel_row()])
    elif step == DATE:
        turn.say(
            _(labels.PROMISE_WHEN, example=date_example(turn.debtor.locale, turn.today)),
            [*_date_buttons(turn), turn.cancel_row()],
        )
    elif step == AMOUNT:
        account = await flow_account(turn)
        full = _money(turn, account.amount_due_minor, account)
        turn.say(
            _(
                labels.PROMISE_HOW_MUCH,
                date=_date(turn),
                minimum=_money(turn, _minimum(turn, account), account),
            ),
            [[turn.button(_(labels.FULL_AMOUNT, amount=full), "p:full")], turn.cancel_row()],
        )
    elif step == CONFIRM:
        account = await flow_account(turn)
        await turn.say_template(
            "promise_summary",
            [
                [turn.button(_(labels.CONFIRM), "p:yes")],
                [turn.button(_(labels.CHANGE), "p:change"), *turn.cancel_row()],
            ],
            amount_minor=turn.state.data["amount_minor"],
            currency=account.currency,
            account_ref=account.account_ref,
            promised_date=date.fromisoformat(turn.state.data["date"]),
        )


async def on_button(turn: Turn, action: str) -> None:
    """A button of this flow."""
    step, data = turn.state.step, turn.state.data
    if step == ACCOUNT and action.startswith("p:acc:"):
        account_id = arg_int(action, "p:acc:")
        if any(a.id == account_id for a in await turn.open_accounts()):
            await _after_account(turn, account_id, data)
            return
    elif step == DATE and action.startswith("p:d:"):
        chosen = arg_date(action, "p:d:")
        if chosen is not None and _date_problem(turn, chosen) is None:
            turn.goto(FLOW, AMOUNT, account_id=data["account_id"], date=chosen.isoformat())
    elif step == AMOUNT and action == "p:full":
        account = await flow_account(turn)
        turn.goto(FLOW, CONFIRM, **data, amount_minor=account.amount_due_minor)
    elif step == CONFIRM and action == "p:change":
        turn.goto(FLOW, DATE, account_id=data["account_id"])
    elif step == CONFIRM and action == "p:yes":
        await _confirm(turn)
        return
    await prompt(turn)


async def on_text(turn: Turn, text: str) -> None:
    """Typed input at a step that takes it (a date or an amount)."""
    _, step, data = turn._, turn.state.step, turn.state.data
    if step == DATE:
        chosen = _read_date(turn, text)
        if chosen is None:
            example = date_example(turn.debtor.locale, turn.today)
            turn.say(
                _(labels.PROMISE_DATE_UNREADABLE, example=example),
                [*_date_buttons(turn), turn.cancel_row()],
            )
            return
        problem = _date_problem(turn, chosen)
        if problem:
            turn.say(problem, [*_date_buttons(turn), turn.cancel_row()])
            return
        turn.goto(FLOW, AMOUNT, account_id=data["account_id"], date=chosen.isoformat())
    elif step == AMOUNT:
        account = await flow_account(turn)
        problem, minor = _read_amount(turn, text, account)
        if problem:
            full = _money(turn, account.amount_due_minor, account)
            turn.say(
                problem,
                [[turn.button(_(labels.FULL_AMOUNT, amount=full), "p:full")], turn.cancel_row()],
            )
            return
        turn.goto(FLOW, CONFIRM, **data, amount_minor=minor)
    await prompt(turn)


async def _confirm(turn: Turn) -> None:
    data, account = turn.state.data, await flow_account(turn)
    promised = date.fromisoformat(data["date"])
    # Midnight may have passed (or the balance changed) since the debtor chose.
    problem = _date_problem(turn, promised)
    if problem or not _minimum(turn, account) <= data["amount_minor"] <= account.amount_due_minor:
        turn.goto(FLOW, DATE, account_id=account.id)
        turn.say(problem or turn._(labels.CHANGED))
        await prompt(turn)
        return
    promise = await make_promise(turn.session, account, data["amount_minor"], promised, turn.now)
    turn.goto(None, None)
    await turn.say_template(
        "promise_confirmed",
        amount_minor=promise.amount_minor,
        currency=account.currency,
        account_ref=account.account_ref,
        promised_date=promised,
        broken_after=promised + timedelta(days=turn.policy.promises.grace_days),
    )
    turn.offer_menu()


def _date_buttons(turn: Turn) -> list[list[Button]]:
    _, today = turn._, turn.today
    last = today + timedelta(days=turn.policy.promises.max_days_ahead)
    friday = today + timedelta(days=(4 - today.weekday()) % 7)
    picks = [
        (labels.TODAY, today),
        (labels.TOMORROW, today + timedelta(days=1)),
        (labels.IN_3_DAYS, today + timedelta(days=3)),
        (labels.END_OF_WEEK, friday),
        (labels.IN_2_WEEKS, today + timedelta(days=14)),
    ]
    seen: set[date] = set()
    buttons = []
    for label, day in picks:
        if day <= last and day not in seen:
            seen.add(day)
            buttons.append(turn.button(_(label), f"p:d:{day.isoformat()}"))
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def _date_problem(turn: Turn, chosen: date) -> str | None:
    _, today = turn._, turn.today
    last = today + timedelta(days=turn.policy.promises.max_days_ahead)
    if chosen < today:
        return _(labels.PROMISE_DATE_PAST)
    if chosen > last:
        return _(labels.PROMISE_DATE_TOO_LATE, last=turn.date_text(last))
    return None


def _read_date(turn: Turn, text: str) -> date | None:
    """A typed date, or the date inside a sentence ("I can pay on 12/15")."""
    locale = turn.debtor.locale
    chosen = parse_user_date(text, locale, turn.today)
    if chosen is None and (found := find_date(fold(text), locale)) is not None:
        chosen = parse_user_date(found.text, locale, turn.today)
    return chosen


def _read_amount(turn: Turn, text: str, account: Account) -> tuple[str | None, int]:
    value = parse_user_amount(text, turn.debtor.locale)
    return _check_amount(turn, value, currency_marks(text), account)


def _check_amount(
    turn: Turn, value: Decimal | None, marks: list[str], account: Account
) -> tuple[str | None, int]:
    """What is wrong with an amount, written with these currency ``marks``, for this account;
    or None and the amount in minor units."""
    other = turn.other_currency(marks, account.currency)
    if other:
        return other, 0
    _ = turn._
    if value is None or value <= 0:
        return _(labels.PROMISE_AMOUNT_UNREADABLE, example=amount_example(turn.debtor.locale)), 0
    try:
        minor = to_minor(format(value, "f"), account.currency)
    except MoneyError:
        return _(labels.PROMISE_AMOUNT_UNREADABLE, example=amount_example(turn.debtor.locale)), 0
    if minor > account.amount_due_minor:
        return _(
            labels.PROMISE_AMOUNT_TOO_LARGE,
            balance=_money(turn, account.amount_due_minor, account),
        ), 0
    minimum = _minimum(turn, account)
    if minor < minimum:
        return _(labels.PROMISE_AMOUNT_TOO_SMALL, minimum=_money(turn, minimum, account)), 0
    return None, minor


def _minimum(turn: Turn, account: Account) -> int:
    share = Decimal(str(turn.policy.promises.min_percent)) / 100
    return max(1, min(account.amount_due_minor, int(account.amount_due_minor * share)))


def _money(turn: Turn, minor: int, account: Account) -> str:
    return turn.money(minor, account.currency)


def _date(turn: Turn) -> str:
    return turn.date_text(date.fromisoformat(turn.state.data["date"]))


DIALOGUE = Dialogue(
    name="promise",
    opens={"promise": open_promise},
    buttons=(MenuButton("promise", labels.MENU["promise"], row=10, column=0, owed_only=True),),
    commands=(Command("promise", labels.COMMANDS["promise"], position=30, opens="promise"),),
    words=(
        Words(
            "promise",
            position=40,
            phrases={
                "en": ("promise", "i will pay", "i'll pay", "pay on", "pay by", "pay next"),
                "zh": ("承诺", "保证", "会还", "我会付", "下周还", "明天还"),
            },
            also=pays_on_a_date,
        ),
    ),
    prefix="p:",
    flow=FLOW,
    prompt=prompt,
    on_button=on_button,
    on_text=on_text,
)

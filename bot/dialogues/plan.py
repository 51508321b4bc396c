"""Repayment plan: which account, how many installments (or what the debtor can afford each
time), the schedule, then confirm (see plan.mmd). Within policy the plan is active at once;
a longer one goes to a person for review and the debtor is told when to expect an answer."""

from __future__ import annotations

import re
from datetime import date, timedelta

from bot import labels
from bot.db.models import Account, PlanStatus
from bot.dialogues.engine import Turn, arg_int, flow_account
from bot.dialogues.parsing import amount_example, currency_marks, parse_user_amount
from bot.dialogues.registry import Command, Dialogue, MenuButton, Words
from bot.money import MoneyError, to_minor
from bot.promises.agreements import installments_for, make_plan, needs_review, plan_schedule

FLOW = "plan"
ACCOUNT, COUNT, CONFIRM = "account", "count", "confirm"
# A proposal longer than this is not sent to review: the debtor is asked for a larger amount.
MAX_REVIEWABLE = 60
# "Each month" around an amount says nothing more at this step ("50 a month", "每月500元").
_PER_MONTH = re.compile(
    r"(?i)\b(?:per|a|each|every)\s+month\b|\bmonthly\b|/\s*(?:month|mo)\b|每个?月|一个月|月付"
)


async def open_plan(turn: Turn, said: str = "") -> None:
    """Propose a plan (menu, /plan, words); say why not when there is nothing to spread."""
    if not await start(turn):
        await turn.not_started()


async def start(turn: Turn) -> bool:
    """Begin a plan; False when there is nothing to spread."""
    # An amount smaller than the fewest installments allowed cannot be spread.
    accounts = [
        a
        for a in await turn.open_accounts()
        if a.amount_due_minor >= turn.policy.plans.min_installments
    ]
    if not accounts:
        return False
    if len(accounts) == 1:
        turn.goto(FLOW, COUNT, account_id=accounts[0].id)
    else:
        turn.goto(FLOW, ACCOUNT)
    await prompt(turn)
    return True


async def prompt(turn: Turn) -> None:
    """Ask what the current step needs."""
    _, step, plans = turn._, turn.state.step, turn.policy.plans
    if step == ACCOUNT:
        rows = [
            [
                turn.button(
                    f"{a.account_ref} · {turn.money(a.amount_due_minor, a.currency)}",
                    f"n:acc:{a.id}",
                )
            ]
            for a in await turn.open_accounts()
        ]
        turn.say(_(labels.PLAN_WHICH_ACCOUNT), [*rows, turn.cancel_row()])
    elif step == COUNT:
        account = await flow_account(turn)
        options = sorted({plans.min_installments, 3, 4, 6, plans.max_installments})
        buttons = [
            turn.button(
                _(
                    labels.PLAN_OPTION,
                    count=n,
                    amount=turn.money(-(-account.amount_due_minor // n), account.currency),
                ),
                f"n:count:{n}",
            )
            for n in options
            if plans.min_installments <= n <= min(plans.max_installments, account.amount_due_minor)
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        turn.say(
            _(labels.PLAN_HOW, balance=turn.money(account.amount_due_minor, account.currency),
              example=amount_example(turn.debtor.locale)),
            [*rows, turn.cancel_row()],
        )  # fmt: skip
    elif step == CONFIRM:
        account = await flow_account(turn)
        parts = _parts(turn, account)
        await turn.say_template(
            "plan_summary",
            [
                [turn.button(_(labels.CONFIRM), "n:yes")],
                [turn.button(_(labels.CHANGE), "n:change"), *turn.cancel_row()],
            ],
            account_ref=account.account_ref,
            currency=account.currency,
            installments=[{"due_date": d, "amount_minor": a} for d, a in parts],
            needs_review=needs_review(turn.policy, turn.state.data["count"]),
        )


async def on_button(turn: Turn, action: str) -> None:
    """A button of this flow."""
    step, data = turn.state.step, turn.state.data
    if step == ACCOUNT and action.startswith("n:acc:"):
        account_id = arg_int(action, "n:acc:")
        if any(a.id == account_id for a in await turn.open_accounts()):
            turn.goto(FLOW, COUNT, account_id=account_id)
    elif step == COUNT and action.startswith("n:count:"):
        count = arg_int(action, "n:count:") or 0
        plans = turn.policy.plans
        balance = (await flow_account(turn)).amount_due_minor
        if plans.min_installments <= count <= min(plans.max_installments, balance):
            turn.goto(FLOW, CONFIRM, account_id=data["account_id"], count=count)
    elif step == CONFIRM and action == "n:change":
        turn.goto(FLOW, COUNT, account_id=data["account_id"])
    elif step == CONFIRM and action == "n:yes":
        await _confirm(turn)
        return
    await prompt(turn)


async def on_text(turn: Turn, text: str) -> None:
    """An amount the debtor can afford each time, typed at the installments step."""
    if turn.state.step != COUNT:
        await prompt(turn)
        return
    account = await flow_account(turn)
    other = turn.other_currency(currency_marks(text), account.currency)
    if other:
        turn.say(other)
        await prompt(turn)
        return
    value = parse_user_amount(_PER_MONTH.sub(" ", text), turn.debtor.locale)
    try:
        each = to_minor(format(value, "f"), account.currency) if value and value > 0 else 0
    except MoneyError:
        each = 0
    if each <= 0:
        turn.say(
            turn._(labels.PROMISE_AMOUNT_UNREADABLE, example=amount_example(turn.debtor.locale))
        )
        await prompt(turn)
        return
    count = max(
        turn.policy.plans.min_installments, installments_for(account.amount_due_minor, each)
    )
    if count > MAX_REVIEWABLE:
        turn.say(turn._(labels.PLAN_TOO_MANY, count=MAX_REVIEWABLE))
        await prompt(turn)
        return
    turn.goto(
        FLOW, CONFIRM, account_id=account.id, count=min(count, account.amount_due_minor),
        each=each,
    )  # fmt: skip
    await prompt(turn)


def _parts(turn: Turn, account: Account) -> list[tuple[date, int]]:
    data = turn.state.data
    return plan_schedule(
        turn.policy, account.amount_due_minor, data["count"], turn.today, data.get("each")
    )


async def _confirm(turn: Turn) -> None:
    account = await flow_account(turn)
    parts = _parts(turn, account)
    plan = await make_plan(turn.session, turn.policy, account, parts, turn.now)
    turn.goto(None, None)
    context = {
        "currency": account.currency,
        "account_ref": account.account_ref,
        "installments": [{"due_date": d, "amount_minor": a} for d, a in parts],
    }
    if plan.status == PlanStatus.REVIEW:
        answer_by = turn.today + timedelta(days=turn.policy.plans.review_answer_days)
        await turn.say_template("plan_review", answer_by=answer_by, **context)
    else:
        await turn.say_template("plan_confirmed", **context)
    turn.offer_menu()


DIALOGUE = Dialogue(
    name="plan",
    opens={"plan": open_plan},
    buttons=(MenuButton("plan", labels.MENU["plan"], row=10, column=1, owed_only=True),),
    commands=(Command("plan", labels.COMMANDS["plan"], position=40, opens="plan"),),
    words=(
        Words(
            "plan",
            position=30,
            phrases={
                "en": ("plan", "installment", "instalment", "monthly", "split"),
                "zh": ("分期", "分几次", "每月"),
            },
        ),
    ),
    prefix="n:",
    flow=FLOW,
    prompt=prompt,
    on_button=on_button,
    on_text=on_text,
)

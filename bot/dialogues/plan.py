"""Repayment plan: which account, how many installments (or what the debtor can afford each
time), the schedule, then confirm (see plan.mmd). Within policy the plan is active at once;
a longer one goes to a person for review and the debtor is told when to expect an answer."""

from __future__ import annotations

import re
from datetime import date, timedelta

from bot import labels
from bot.compliance.records import audit
from bot.db.models import Account, PlanInstallment, PlanStatus, RepaymentPlan
from bot.dialogues.engine import Turn, arg_int, flow_account
from bot.dialogues.parsing import amount_example, currency_marks, parse_user_amount
from bot.handoff.tickets import open_ticket
from bot.money import MoneyError, to_minor

FLOW = "plan"
ACCOUNT, COUNT, CONFIRM = "account", "count", "confirm"
# A proposal longer than this is not sent to review: the debtor is asked for a larger amount.
MAX_REVIEWABLE = 60
# "Each month" around an amount says nothing more at this step ("50 a month", "每月500元").
_PER_MONTH = re.compile(
    r"(?i)\b(?:per|a|each|every)\s+month\b|\bmonthly\b|/\s*(?:month|mo)\b|每个?月|一个月|月付"
)


def schedule(total: int, count: int, first: date, every_days: int) -> list[tuple[date, int]]:
    """Equal installments (the first ones carry the remainder), ``every_days`` apart."""
    base, extra = divmod(total, count)
    return [
        (first + timedelta(days=every_days * i), base + (1 if i < extra else 0))
        for i in range(count)
    ]


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
            needs_review=turn.state.data["count"] > turn.policy.plans.max_installments,
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
    count = max(turn.policy.plans.min_installments, -(-account.amount_due_minor // each))
    if count > MAX_REVIEWABLE:
        turn.say(turn._(labels.PLAN_TOO_MANY, count=MAX_REVIEWABLE))
        await prompt(turn)
        return
    turn.goto(FLOW, CONFIRM, account_id=account.id, count=min(count, account.amount_due_minor))
    await prompt(turn)


def _parts(turn: Turn, account: Account) -> list[tuple[date, int]]:
    plans = turn.policy.plans
    first = turn.today + timedelta(days=plans.first_due_in_days)
    return schedule(account.amount_due_minor, turn.state.data["count"], first, plans.every_days)


async def _confirm(turn: Turn) -> None:
    account = await flow_account(turn)
    parts = _parts(turn, account)
    review = len(parts) > turn.policy.plans.max_installments
    plan = RepaymentPlan(
        debtor_id=turn.debtor.id, account_id=account.id,
        status=PlanStatus.REVIEW if review else PlanStatus.ACTIVE,
        total_minor=account.amount_due_minor, currency=account.currency,
        installment_count=len(parts), source="debtor", created_at=turn.now, updated_at=turn.now,
        activated_at=None if review else turn.now,
        installments=[
            PlanInstallment(seq=i + 1, due_date=d, amount_minor=a, paid_minor=0, status="pending")
            for i, (d, a) in enumerate(parts)
        ],
    )  # fmt: skip
    turn.session.add(plan)
    await turn.session.flush()
    audit(turn.session, turn.debtor.id, "plan_review" if review else "plan_active", actor="debtor",
          at=turn.now, detail=f"plan {plan.id}: {len(parts)} installments")  # fmt: skip
    turn.goto(None, None)
    context = {
        "currency": account.currency,
        "account_ref": account.account_ref,
        "installments": [{"due_date": d, "amount_minor": a} for d, a in parts],
    }
    if review:
        await open_ticket(
            turn.session, turn.debtor.id, "plan_review", now=turn.now, actor="debtor",
            account_id=account.id, note=f"plan {plan.id}: {len(parts)} installments proposed",
        )  # fmt: skip
        answer_by = turn.today + timedelta(days=turn.policy.plans.review_answer_days)
        await turn.say_template("plan_review", answer_by=answer_by, **context)
    else:
        await turn.say_template("plan_confirmed", **context)

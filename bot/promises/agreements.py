"""Making agreements: a promise to pay, and a repayment plan with its schedule.

The flows (or, later, an agent) decide what was agreed; these functions store it, with its
audit trail, in the caller's transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.models import (
    Account,
    PlanInstallment,
    PlanStatus,
    Promise,
    PromiseStatus,
    RepaymentPlan,
)
from bot.handoff.tickets import open_ticket
from bot.policy import Policy

Schedule = list[tuple[date, int]]


def minimum_promise(policy: Policy, account: Account) -> int:
    """The smallest amount a promise on ``account`` may be for (the policy's share of it)."""
    share = Decimal(str(policy.promises.min_percent)) / 100
    return max(1, min(account.amount_due_minor, int(account.amount_due_minor * share)))


def latest_promise_date(policy: Policy, today: date) -> date:
    """The latest day a promise made on ``today`` may name."""
    return today + timedelta(days=policy.promises.max_days_ahead)


def promise_problem(
    policy: Policy, account: Account, amount_minor: int, promised_date: date, today: date
) -> str | None:
    """Why a promise breaks the chat flow's rules, for the person recording it; None if fine."""
    if not account.owed:
        return "Nothing is owed on this account."
    if promised_date < today:
        return "The date is in the past (in the debtor's time zone)."
    last = latest_promise_date(policy, today)
    if promised_date > last:
        return f"A promise may be at most {policy.promises.max_days_ahead} days ahead ({last})."
    if amount_minor > account.amount_due_minor:
        return "The amount is more than is owed on this account."
    if amount_minor < minimum_promise(policy, account):
        return f"A promise must be for at least {policy.promises.min_percent:g}% of what is owed."
    return None


async def make_promise(
    session: AsyncSession,
    account: Account,
    amount_minor: int,
    promised_date: date,
    now: datetime,
    *,
    by: str = "debtor",
) -> Promise:
    """Store a promise on ``account``; an open one on the same account is cancelled."""
    await session.execute(
        update(Promise)
        .where(Promise.account_id == account.id, Promise.status == PromiseStatus.OPEN)
        .values(status=PromiseStatus.CANCELLED, resolved_at=now, updated_at=now)
    )
    promise = Promise(
        debtor_id=account.debtor_id, account_id=account.id, amount_minor=amount_minor,
        currency=account.currency, promised_date=promised_date, status=PromiseStatus.OPEN,
        paid_minor=0, source=by, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(promise)
    await session.flush()
    detail = f"promise {promise.id}: {amount_minor} {account.currency} by {promised_date}"
    audit(session, account.debtor_id, "promise_made", actor=by, at=now, detail=detail)
    return promise


def schedule(
    total: int, count: int, first: date, every_days: int, each: int | None = None
) -> Schedule:
    """``count`` installments ``every_days`` apart: equal ones (the first carry the remainder),
    or, given what the debtor can pay ``each`` time, that much each time and the rest last
    (12 of $100.00 and $34.50 for $1,234.50), when ``count`` is what that takes."""
    if each is not None and each * (count - 1) < total <= each * count:
        amounts = [each] * (count - 1) + [total - each * (count - 1)]
    else:
        base, extra = divmod(total, count)
        amounts = [base + (1 if i < extra else 0) for i in range(count)]
    return [(first + timedelta(days=every_days * i), amount) for i, amount in enumerate(amounts)]


def installments_for(total: int, each: int) -> int:
    """How many installments of at most ``each`` pay ``total``."""
    return -(-total // each)


def plan_schedule(
    policy: Policy, total: int, count: int, today: date, each: int | None = None
) -> Schedule:
    """The installments of a plan of ``count`` agreed on ``today``, as the policy spaces them
    (of ``each`` but the last, when the debtor said what they can pay each time)."""
    plans = policy.plans
    first = today + timedelta(days=plans.first_due_in_days)
    return schedule(total, count, first, plans.every_days, each)


def needs_review(policy: Policy, count: int) -> bool:
    """Whether a plan of ``count`` installments is longer than a person must approve."""
    return count > policy.plans.max_installments


async def make_plan(
    session: AsyncSession,
    policy: Policy,
    account: Account,
    installments: Schedule,
    now: datetime,
    *,
    by: str = "debtor",
) -> RepaymentPlan:
    """Store a plan for the account's balance: active at once within policy, else for review
    with a ``plan_review`` ticket."""
    review = needs_review(policy, len(installments))
    plan = RepaymentPlan(
        debtor_id=account.debtor_id, account_id=account.id,
        status=PlanStatus.REVIEW if review else PlanStatus.ACTIVE,
        total_minor=account.amount_due_minor, currency=account.currency,
        installment_count=len(installments), source=by, created_at=now, updated_at=now,
        activated_at=None if review else now,
        installments=[
            PlanInstallment(seq=i + 1, due_date=d, amount_minor=a, paid_minor=0, status="pending")
            for i, (d, a) in enumerate(installments)
        ],
    )  # fmt: skip
    session.add(plan)
    await session.flush()
    detail = f"plan {plan.id}: {len(installments)} installments"
    audit(session, account.debtor_id, "plan_review" if review else "plan_active", actor=by,
          at=now, detail=detail)  # fmt: skip
    if review:
        await open_ticket(
            session, account.debtor_id, "plan_review", now=now, actor=by, account_id=account.id,
            note=f"plan {plan.id}: {len(installments)} installments proposed",
        )  # fmt: skip
    return plan

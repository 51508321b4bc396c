"""Composing a proactive message: the stage text, the accounts it covers, and the opt-out line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.names import greeting_name
from bot.channel import OutMessage
from bot.db.models import (
    Account,
    AccountStatus,
    Debtor,
    PlanInstallment,
    Promise,
    RepaymentPlan,
)
from bot.menu import debt_buttons
from bot.policy import Policy
from bot.policy.window import day_number
from bot.reminders.fees import late_fee
from bot.templates.accounts import account_rows, accounts_block, totals
from bot.templates.store import render


@dataclass(frozen=True)
class Composed:
    """A reminder ready to send and the accounts it covers."""

    message: OutMessage
    account_ids: list[int]
    # The template experiment and arm its text was chosen by, if one runs: (id, arm).
    experiment: tuple[int, str] | None = None


async def covered_accounts(
    session: AsyncSession, debtor_id: int, policy: Policy, today: date
) -> Sequence[Account]:
    """Open, owed, undisputed accounts due soon or overdue, most overdue first."""
    accounts = (
        (
            await session.execute(
                select(Account)
                .where(
                    Account.debtor_id == debtor_id,
                    Account.status == AccountStatus.OPEN,
                    Account.amount_due_minor > 0,
                    Account.dispute_at.is_(None),
                )
                .order_by(Account.due_date, Account.account_ref)
            )
        )
        .scalars()
        .all()
    )
    return [a for a in accounts if (today - a.due_date).days >= policy.earliest_dpd]


async def stage_context(
    session: AsyncSession, debtor: Debtor, *, policy: Policy, today: date
) -> tuple[dict[str, Any], Sequence[Account]]:
    """What a stage reminder shows a debtor today, and the accounts it covers."""
    accounts = await covered_accounts(session, debtor.id, policy, today)
    fees = {
        a.id: late_fee(
            a.amount_due_minor, day_number(today) - day_number(a.due_date), policy.late_fees,
            waived=a.late_fee_waived,
        )
        for a in accounts
    }  # fmt: skip
    rows = account_rows(accounts, fees)
    days_past_due = max((day_number(today) - day_number(a.due_date) for a in accounts), default=0)
    context = {
        "accounts": rows,
        "accounts_block": await accounts_block(session, debtor.locale, rows),
        "totals": totals(rows),
        "days_past_due": days_past_due,
        "late_fees": policy.late_fees.enabled,
    }
    return context, accounts


async def compose_reminder(
    session: AsyncSession,
    debtor: Debtor,
    template_key: str,
    *,
    policy: Policy,
    today: date,
    creditor: str,
    payment_url_template: str,
) -> Composed:
    """Render a stage reminder for one debtor; raises RenderError if a template is broken."""
    context, accounts = await stage_context(session, debtor, policy=policy, today=today)
    # Stage messages are what experiments test; the debtor's id picks their arm.
    return await _proactive(
        session, debtor, template_key, context, accounts, kind="reminder",
        creditor=creditor, payment_url_template=payment_url_template, subject=debtor.id,
    )  # fmt: skip


async def promise_context(
    session: AsyncSession, promise: Promise
) -> tuple[dict[str, Any], Account]:
    """What a message about one promise shows, and its account."""
    account = await session.get(Account, promise.account_id)
    context = {
        "amount_minor": promise.amount_minor,
        "paid_minor": promise.paid_minor,
        "currency": promise.currency,
        "account_ref": account.account_ref,
        "promised_date": promise.promised_date,
    }
    return context, account


async def compose_promise_message(
    session: AsyncSession,
    debtor: Debtor,
    promise: Promise,
    template_key: str,
    *,
    creditor: str,
    payment_url_template: str,
) -> Composed:
    """A message about one promise: due tomorrow, kept, or not kept."""
    context, account = await promise_context(session, promise)
    return await _proactive(
        session, debtor, template_key, context, [account], kind=template_key,
        creditor=creditor, payment_url_template=payment_url_template,
    )  # fmt: skip


async def compose_withdrawal_message(
    session: AsyncSession,
    debtor: Debtor,
    account_id: int,
    agreement: str,
    *,
    creditor: str,
    payment_url_template: str,
) -> Composed:
    """The account is no longer handled here, and what was agreed about it ("promise" or
    "plan") has ended; a closed account gets no pay button."""
    account = await session.get(Account, account_id)
    context = {"account_ref": account.account_ref, "agreement": agreement}
    return await _proactive(
        session, debtor, "account_withdrawn", context, [account], kind="account_withdrawn",
        creditor=creditor, payment_url_template=payment_url_template,
    )  # fmt: skip


async def installment_context(
    session: AsyncSession, installment: PlanInstallment, policy: Policy
) -> tuple[dict[str, Any], Account]:
    """What a message about one installment shows, and the plan's account."""
    plan = await session.get(RepaymentPlan, installment.plan_id)
    account = await session.get(Account, plan.account_id)
    context = {
        "seq": installment.seq,
        "count": plan.installment_count,
        "amount_minor": installment.amount_minor - installment.paid_minor,
        "currency": plan.currency,
        "due_date": installment.due_date,
        "grace_until": installment.due_date + timedelta(days=policy.plans.grace_days),
    }
    return context, account


async def compose_installment_message(
    session: AsyncSession,
    debtor: Debtor,
    installment: PlanInstallment,
    template_key: str,
    *,
    policy: Policy,
    creditor: str,
    payment_url_template: str,
) -> Composed:
    """A message about one installment of a plan: coming up, or missed."""
    context, account = await installment_context(session, installment, policy)
    return await _proactive(
        session, debtor, template_key, context, [account], kind=template_key,
        creditor=creditor, payment_url_template=payment_url_template,
    )  # fmt: skip


async def _proactive(
    session: AsyncSession,
    debtor: Debtor,
    template_key: str,
    context: dict[str, Any],
    accounts: Sequence[Account],
    *,
    kind: str,
    creditor: str,
    payment_url_template: str,
    subject: int | None = None,
) -> Composed:
    """A proactive message: the template addressed to the debtor, then the opt-out line, with
    pay links for what is still owed."""
    body = await render(
        session,
        template_key,
        debtor.locale,
        {"creditor": creditor, "first_name": greeting_name(debtor.full_name), **context},
        subject,
    )
    opt_out = await render(session, "opt_out_line", debtor.locale, {"creditor": creditor})
    owed = [a for a in accounts if a.owed]
    message = OutMessage(
        text=f"{body.text}\n\n{opt_out.text}",
        buttons=debt_buttons(owed, debtor.locale, payment_url_template),
        kind=kind,
        template_key=body.key,
        template_version=body.version,
        template_locale=body.locale,
    )
    return Composed(message, [a.id for a in accounts], body.experiment)

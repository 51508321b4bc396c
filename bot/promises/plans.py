"""Following up repayment plans: a reminder before each installment, payments allocated in
order, a missed installment given a grace period, then the plan breaks and the policy decides
what follows (stage reminders again, or a person)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.base import touch
from bot.db.models import Debtor, Payment, PlanInstallment, PlanStatus, RepaymentPlan
from bot.handoff.tickets import open_ticket
from bot.policy import Policy
from bot.promises.lifecycle import queue_message


async def settle_plans(
    session: AsyncSession, policy: Policy, now: datetime, *, account_ids: list[int] | None = None
) -> int:
    """Allocate payments to installments and judge missed ones; return plans that changed."""
    query = (
        select(RepaymentPlan, Debtor)
        .join(Debtor, Debtor.id == RepaymentPlan.debtor_id)
        .where(RepaymentPlan.status == PlanStatus.ACTIVE)
        .with_for_update(of=RepaymentPlan)
    )
    if account_ids is not None:
        query = query.where(RepaymentPlan.account_id.in_(account_ids))
    changed = 0
    for plan, debtor in (await session.execute(query)).all():
        await session.refresh(plan, ["installments"])
        if await _settle_one(session, policy, plan, debtor, now):
            changed += 1
    return changed


async def _settle_one(
    session: AsyncSession, policy: Policy, plan: RepaymentPlan, debtor: Debtor, now: datetime
) -> bool:
    paid = (
        await session.execute(
            select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
                Payment.account_id == plan.account_id, Payment.paid_at >= plan.activated_at
            )
        )
    ).scalar_one()
    today = now.astimezone(ZoneInfo(debtor.timezone)).date()
    before = [(i.status, i.paid_minor) for i in plan.installments]
    left = int(paid)
    for installment in plan.installments:
        installment.paid_minor = min(left, installment.amount_minor)
        left -= installment.paid_minor
        if installment.paid_minor >= installment.amount_minor:
            if installment.status != "paid":
                installment.status, installment.paid_at = "paid", now
        elif today > installment.due_date + timedelta(days=policy.plans.grace_days):
            await _break(session, policy, plan, debtor, installment, now)
            return True
        elif today > installment.due_date and installment.status == "pending":
            installment.status = "missed"
            await queue_message(
                session, policy, debtor, "installment_missed", "installment_missed",
                f"installment_missed:{installment.id}", now, installment_id=installment.id,
            )  # fmt: skip
    if all(i.status == "paid" for i in plan.installments):
        plan.status, plan.ended_at = PlanStatus.COMPLETED, now
        touch(plan, now)
        audit(
            session, debtor.id, "plan_completed", actor="system", at=now, detail=f"plan {plan.id}"
        )
    return before != [(i.status, i.paid_minor) for i in plan.installments]


async def _break(
    session: AsyncSession,
    policy: Policy,
    plan: RepaymentPlan,
    debtor: Debtor,
    installment: PlanInstallment,
    now: datetime,
) -> None:
    plan.status, plan.ended_at = PlanStatus.BROKEN, now
    touch(plan, now)
    audit(session, debtor.id, "plan_broken", actor="system", at=now,
          detail=f"plan {plan.id}: installment {installment.seq} not paid")  # fmt: skip
    if policy.plans.on_break == "agent":
        await open_ticket(
            session, debtor.id, "plan_broken", now=now, actor="system", account_id=plan.account_id
        )


async def plan_installment_reminders(session: AsyncSession, policy: Policy, now: datetime) -> int:
    """Queue a reminder before each pending installment of an active plan."""
    rows = await session.execute(
        select(PlanInstallment, Debtor)
        .join(RepaymentPlan, RepaymentPlan.id == PlanInstallment.plan_id)
        .join(Debtor, Debtor.id == RepaymentPlan.debtor_id)
        .where(RepaymentPlan.status == PlanStatus.ACTIVE, PlanInstallment.status == "pending")
    )
    queued = 0
    for installment, debtor in rows.all():
        today = now.astimezone(ZoneInfo(debtor.timezone)).date()
        if (installment.due_date - today).days == policy.plans.remind_days_before:
            await queue_message(
                session, policy, debtor, "installment_due", "installment_due",
                f"installment_due:{installment.id}", now, installment_id=installment.id,
            )  # fmt: skip
            queued += 1
    return queued

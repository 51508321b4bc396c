"""Following up every promise: a reminder the day before, then kept, partial or broken.

A promise is *kept* as soon as payments on its account since it was made reach its amount.
Once its date plus the grace days has passed in the debtor's time zone, it is *partial* if
some money came and *broken* if none did. Each outcome queues a message in the outbox (sent
by the dispatcher within the contact window), and after ``broken_to_agent`` broken promises a
person takes over through a ticket.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.base import touch
from bot.db.engine import dialect_insert
from bot.db.models import (
    Debtor,
    OutboxStatus,
    Payment,
    Promise,
    PromiseStatus,
    ReminderOutbox,
)
from bot.handoff.tickets import open_ticket
from bot.policy import Policy
from bot.policy.window import zone_clock

TEMPLATES = {
    "promise_due": "promise_due_tomorrow",
    "promise_kept": "promise_kept",
    "promise_partial": "promise_partial",
    "promise_broken": "promise_broken",
}


def _local_today(debtor: Debtor, now: datetime) -> date:
    return now.astimezone(ZoneInfo(debtor.timezone)).date()


async def _paid_since(session: AsyncSession, promise: Promise) -> int:
    paid = await session.execute(
        select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
            Payment.account_id == promise.account_id, Payment.paid_at >= promise.created_at
        )
    )
    return int(paid.scalar_one())


async def queue_message(
    session: AsyncSession,
    policy: Policy,
    debtor: Debtor,
    kind: str,
    template_key: str,
    dedupe_key: str,
    now: datetime,
    **refs: int | list[int],
) -> None:
    """Queue one proactive message for the dispatcher, once per dedupe key, in the window;
    ``refs`` name what it is about (promise_id, installment_id or account_ids)."""
    clock = zone_clock(debtor.timezone, now, policy.window)
    not_before = clock.send_from if clock.plannable else clock.opens_at + timedelta(days=1)
    await session.execute(
        dialect_insert(session, ReminderOutbox)
        .values(
            dedupe_key=dedupe_key, debtor_id=debtor.id, kind=kind, stage=None,
            template_key=template_key, planned_at=now, not_before=not_before,
            status=OutboxStatus.PENDING, attempts=0, **refs,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )  # fmt: skip


async def _queue(
    session: AsyncSession, policy: Policy, debtor: Debtor, promise: Promise, kind: str,
    now: datetime,
) -> None:  # fmt: skip
    """Queue one message about a promise (the dedupe key names the promise)."""
    await queue_message(
        session, policy, debtor, kind, TEMPLATES[kind], f"{kind}:{promise.id}", now,
        promise_id=promise.id,
    )  # fmt: skip


async def settle_promises(
    session: AsyncSession, policy: Policy, now: datetime, *, account_ids: list[int] | None = None
) -> Counter[str]:
    """Judge open promises (all, or those on ``account_ids``); return how many became what."""
    query = (
        select(Promise, Debtor)
        .join(Debtor, Debtor.id == Promise.debtor_id)
        .where(Promise.status == PromiseStatus.OPEN)
        .with_for_update(of=Promise)
    )
    if account_ids is not None:
        query = query.where(Promise.account_id.in_(account_ids))
    outcomes: Counter[str] = Counter()
    for promise, debtor in (await session.execute(query)).all():
        paid = await _paid_since(session, promise)
        deadline = promise.promised_date + timedelta(days=policy.promises.grace_days)
        if paid >= promise.amount_minor:
            status = PromiseStatus.KEPT
        elif _local_today(debtor, now) > deadline:
            status = PromiseStatus.PARTIAL if paid else PromiseStatus.BROKEN
        else:
            continue
        promise.status, promise.paid_minor, promise.resolved_at = status, paid, now
        touch(promise, now)
        audit(session, debtor.id, f"promise_{status}", actor="system", at=now,
              detail=f"promise {promise.id}: paid {paid} of {promise.amount_minor}")  # fmt: skip
        await _queue(session, policy, debtor, promise, f"promise_{status}", now)
        outcomes[str(status)] += 1
        if status != PromiseStatus.KEPT:
            await _maybe_hand_over(session, policy, debtor, now)
    return outcomes


async def _maybe_hand_over(
    session: AsyncSession, policy: Policy, debtor: Debtor, now: datetime
) -> None:
    broken = await session.execute(
        select(func.count()).where(
            Promise.debtor_id == debtor.id,
            Promise.status.in_([PromiseStatus.BROKEN, PromiseStatus.PARTIAL]),
        )
    )
    if broken.scalar_one() < policy.promises.broken_to_agent:
        return
    await open_ticket(session, debtor.id, "broken_promises", now=now, actor="system")


async def plan_promise_reminders(session: AsyncSession, policy: Policy, now: datetime) -> int:
    """Queue the day-before reminder of every open promise due tomorrow (local time)."""
    rows = await session.execute(
        select(Promise, Debtor)
        .join(Debtor, Debtor.id == Promise.debtor_id)
        .where(Promise.status == PromiseStatus.OPEN)
    )
    queued = 0
    for promise, debtor in rows.all():
        if promise.promised_date - _local_today(debtor, now) == timedelta(days=1):
            await _queue(session, policy, debtor, promise, "promise_due", now)
            queued += 1
    return queued

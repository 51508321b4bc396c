"""Since when each hold of the decision trace applies, read from where it is recorded."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    ChannelLink,
    Debtor,
    HandoffTicket,
    OutboxStatus,
    PlanStatus,
    Promise,
    PromiseStatus,
    ReminderOutbox,
    RepaymentPlan,
    TicketStatus,
)
from bot.policy import Policy
from bot.reminders.trace import Hold

_ON_DEBTOR = {
    "opted_out": "opted_out_at",
    "cease": "cease_at",
    "deceased": "deceased_at",
    "bankruptcy": "bankruptcy_at",
    "dispute": "dispute_at",
}


async def hold_facts(s: AsyncSession, policy: Policy, debtor: Debtor, code: str) -> Hold:
    """The hold ``code`` (a reason of ``debtor_blocks`` that applies) with since when."""
    if code in _ON_DEBTOR:
        return Hold(code, since=getattr(debtor, _ON_DEBTOR[code]))
    if code == "hardship":
        return Hold(code, until=debtor.hardship_until)
    if code in ("open_ticket", "ticket_claimed"):
        ticket = await s.scalar(
            select(HandoffTicket).where(
                HandoffTicket.debtor_id == debtor.id, HandoffTicket.status != TicketStatus.RESOLVED
            )
        )
        if ticket is None:  # resolved in between
            return Hold(code)
        since = ticket.claimed_at if code == "ticket_claimed" else ticket.opened_at
        return Hold(code, since=since, detail=ticket.status)
    if code == "open_promise":
        promise = await s.scalar(
            select(Promise)
            .where(Promise.debtor_id == debtor.id, Promise.status == PromiseStatus.OPEN)
            .order_by(Promise.promised_date.desc())
            .limit(1)
        )
        if promise is None:
            return Hold(code)
        until = promise.promised_date + timedelta(days=policy.promises.grace_days)
        return Hold(code, since=promise.created_at, until=until)
    if code == "plan_active":
        since = await s.scalar(
            select(func.max(RepaymentPlan.activated_at)).where(
                RepaymentPlan.debtor_id == debtor.id, RepaymentPlan.status == PlanStatus.ACTIVE
            )
        )
        return Hold(code, since=since)
    return await _chat_hold(s, debtor, code)


async def _chat_hold(s: AsyncSession, debtor: Debtor, code: str) -> Hold:
    """unlinked, unverified or unreachable: since the debtor was added, the newest link was
    made, or was found unreachable."""
    if code == "unlinked":
        return Hold(code, since=debtor.created_at)
    newest = ChannelLink.linked_at if code == "unverified" else ChannelLink.unreachable_at
    link = await s.scalar(
        select(ChannelLink)
        .where(ChannelLink.debtor_id == debtor.id, newest.is_not(None))
        .order_by(newest.desc(), ChannelLink.id.desc())
        .limit(1)
    )
    if link is None:
        return Hold(code)
    if code == "unverified":
        return Hold(code, since=link.linked_at)
    return Hold(code, since=link.unreachable_at, detail=link.unreachable_reason)


async def last_sent(s: AsyncSession, debtor_id: int) -> datetime | None:
    """When the last proactive message to the debtor went out, however long ago."""
    return await s.scalar(
        select(func.max(ReminderOutbox.sent_at)).where(
            ReminderOutbox.debtor_id == debtor_id, ReminderOutbox.status == OutboxStatus.SENT
        )
    )

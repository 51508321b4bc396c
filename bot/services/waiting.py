"""Looking after the agent queue on the ticker: claims whose lease ran out go back to it, and a
debtor whose ticket nobody has claimed in time is told, once, when to expect an answer.

The notice goes to a debtor who wrote since their ticket opened (someone waiting for a person),
for a ticket unclaimed after ``handoff.answer_within_minutes`` or opened outside
``handoff.business_hours``. It says "within N minutes" while agents are at work, else from when
(the next opening, in the debtor's own time). ``waiting_notice_at`` is set by a conditional
update in the transaction that stores the message as a pending reply, so of two processes one
sends it, once; a process that stops before sending leaves it to the reply sweeper. The menu
stays as it was: the bot answers an unclaimed ticket's chat as always.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import OutMessage, Sender
from bot.compliance.reach import barred, chat_of, too_late
from bot.conversation import replies
from bot.db.models import ContactLog, Debtor, Direction, HandoffTicket, TicketStatus
from bot.handoff import claims, hours
from bot.handoff.events import publish
from bot.policy import Policy
from bot.templates.store import render

log = logging.getLogger(__name__)
# Tickets looked at in one pass at most, oldest first; more wait for the next.
BATCH = 200


@dataclass
class QueueReport:
    """What one pass over the queue did."""

    released: int = 0
    notified: int = 0


async def look_after_queue(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    policy: Policy,
    now: datetime,
    *,
    creditor: str,
) -> QueueReport:
    """Release expired claims, then tell waiting debtors when to expect an answer."""
    report = QueueReport()
    async with sessions.begin() as s:
        report.released = len(await claims.release_expired(s, now))
    async with sessions() as s:
        due = await _due(s, policy, now)
    for ticket_id in due:
        try:
            if await notify_waiting(sessions, sender, policy, now, ticket_id, creditor=creditor):
                report.notified += 1
        except Exception:
            log.exception("a waiting notice failed; the next pass tries again")
    return report


async def _due(s: AsyncSession, policy: Policy, now: datetime) -> list[int]:
    """Unclaimed tickets, not told yet, whose debtor wrote since they opened, due a notice."""
    wrote = exists().where(
        ContactLog.debtor_id == HandoffTicket.debtor_id,
        ContactLog.direction == Direction.IN,
        ContactLog.created_at >= HandoffTicket.opened_at,
    )
    rows = await s.execute(
        select(HandoffTicket.id, HandoffTicket.opened_at)
        .where(
            HandoffTicket.status == TicketStatus.OPEN,
            HandoffTicket.waiting_notice_at.is_(None),
            wrote,
        )
        .order_by(HandoffTicket.opened_at, HandoffTicket.id)
        .limit(BATCH)
    )
    late = now - timedelta(minutes=policy.handoff.answer_within_minutes)
    business = policy.handoff.business_hours
    return [
        ticket_id
        for ticket_id, opened_at in rows.all()
        if opened_at <= late or not hours.is_open(business, opened_at)
    ]


async def notify_waiting(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    policy: Policy,
    now: datetime,
    ticket_id: int,
    *,
    creditor: str,
) -> bool:
    """Tell the ticket's debtor when to expect an answer, once; True if it was sent now."""

    async def work(s: AsyncSession) -> tuple[int, int, list[replies.Pending]] | None:
        took = await s.execute(
            update(HandoffTicket)
            .where(
                HandoffTicket.id == ticket_id,
                HandoffTicket.status == TicketStatus.OPEN,
                HandoffTicket.waiting_notice_at.is_(None),
            )
            .values(waiting_notice_at=now)
        )
        if took.rowcount != 1:
            return None  # claimed meanwhile, or told by another process
        ticket = await s.get(HandoffTicket, ticket_id)
        debtor = await s.get(Debtor, ticket.debtor_id)
        link = await chat_of(s, debtor.id, {sender.channel})
        if barred(debtor, link) is not None:
            return None  # may not be written to: nothing to tell, ever
        if await too_late(s, debtor, now, policy) is not None:
            raise _NotNow  # asleep: tell them once their window opens
        message = await _notice(s, debtor, policy, now, creditor)
        stored = await replies.queue(
            s, channel=link.channel, chat_id=link.chat_id, debtor_id=debtor.id,
            messages=[message], locale=None, at=now, claimed_by=sender.lease.name,
        )  # fmt: skip
        for log_id, _, _ in stored:
            publish(
                s, "message", now=now, ticket_id=ticket_id, debtor_id=debtor.id, log_id=log_id,
                direction=Direction.OUT.value, kind=message.kind,
            )  # fmt: skip
        return link.chat_id, debtor.id, stored

    try:
        async with sessions.begin() as s:
            stored = await work(s)
    except _NotNow:
        return False
    if stored is None:
        return False
    chat_id, debtor_id, pending = stored
    await replies.deliver(sender, sessions, chat_id, debtor_id, pending, watched=True)
    return True


class _NotNow(Exception):
    """Not to be sent at this hour: the transaction that marked it rolls back."""


async def _notice(
    s: AsyncSession, debtor: Debtor, policy: Policy, now: datetime, creditor: str
) -> OutMessage:
    business = policy.handoff.business_hours
    context: dict[str, object] = {
        "creditor": creditor,
        "minutes": policy.handoff.answer_within_minutes,
        "opens_on": None,
        "opens_at": None,
    }
    if not hours.is_open(business, now):
        # When agents start, on the debtor's own clock (naive: the renderer shows it as is).
        local = hours.next_opening(business, now).astimezone(ZoneInfo(debtor.timezone))
        context.update(opens_on=local.date(), opens_at=local.replace(tzinfo=None))
    rendered = await render(s, "waiting_for_agent", debtor.locale, context)
    return OutMessage(
        rendered.text, kind="reply", template_key="waiting_for_agent",
        template_version=rendered.version,
        template_locale=rendered.locale,
    )  # fmt: skip

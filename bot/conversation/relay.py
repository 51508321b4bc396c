"""The relay: while a person owns a chat, what the debtor writes goes to them and the bot is
silent.

A turn of a verified chat reads the debtor's ticket: one indexed query, with a row lock, so a
claim committing at that moment either waits for the turn or is seen by it. With a ticket not
resolved, every contact-log row of the turn gets a ``message`` console event in the turn's
transaction, so agents see what the debtor wrote and what the bot answered. With a claimed
ticket the bot answers nothing itself, except once per claim "a member of our team is with
you"; STOP is honoured before this, as always (bot/conversation/pipeline.py).

The chat counts as owned by status alone, never by the lease: a lease that ran out is released
by ``claims.release_expired``, which the ticker runs every few seconds, and until then the agent
may still be typing, so the bot keeps quiet rather than talk over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import replies
from bot.db.models import ChannelLink, Debtor, Direction, HandoffTicket, TicketStatus
from bot.dialogues.engine import Input, Outcome, template_message
from bot.handoff.events import publish

# Built once: every turn of a verified chat runs it. The partial unique index on the debtor's
# ticket not resolved answers it.
_TICKET_OF = (
    select(HandoffTicket.id, HandoffTicket.status, HandoffTicket.team_notice_at)
    .where(
        HandoffTicket.debtor_id == bindparam("debtor_id"),
        HandoffTicket.status != TicketStatus.RESOLVED,
    )
    .with_for_update()
)


@dataclass(frozen=True)
class Ticket:
    """The debtor's ticket as a turn sees it."""

    id: int
    debtor_id: int
    status: str
    team_notice_at: datetime | None

    @property
    def held(self) -> bool:
        """A person owns the chat."""
        return self.status == TicketStatus.CLAIMED


async def ticket_of(s: AsyncSession, link: ChannelLink | None) -> Ticket | None:
    """The ticket not resolved of a verified chat's debtor, locked for the turn."""
    if link is None or link.verified_at is None:
        return None
    found = (await s.execute(_TICKET_OF, {"debtor_id": link.debtor_id})).first()
    if found is None:
        return None
    return Ticket(found[0], link.debtor_id, found[1], found[2])


def heard(s: AsyncSession, ticket: Ticket, log_id: int, kind: str, now: datetime) -> None:
    """What the debtor sent, for the consoles."""
    publish(
        s, "message", now=now, ticket_id=ticket.id, debtor_id=ticket.debtor_id, log_id=log_id,
        direction=Direction.IN.value, kind=kind,
    )  # fmt: skip


def said(s: AsyncSession, ticket: Ticket, stored: list[replies.Pending], now: datetime) -> None:
    """What the bot answered, for the consoles (it is stored, not yet sent)."""
    for log_id, message, _ in stored:
        publish(
            s, "message", now=now, ticket_id=ticket.id, debtor_id=ticket.debtor_id,
            log_id=log_id, direction=Direction.OUT.value, kind=message.kind,
        )  # fmt: skip


def changed(s: AsyncSession, ticket: Ticket, now: datetime) -> None:
    """Something about the debtor changed during the ticket (an opt-out)."""
    publish(s, "ticket_changed", now=now, ticket_id=ticket.id, debtor_id=ticket.debtor_id)


async def while_held(
    s: AsyncSession, ticket: Ticket, debtor: Debtor, inp: Input, now: datetime, creditor: str
) -> Outcome:
    """The bot's answer while a person owns the chat: nothing, or once per claim that a
    member of the team is there. A press of an old button gets nothing at all."""
    if inp.kind == "button" or ticket.team_notice_at is not None:
        return Outcome(debtor.id, [])
    # The ticket row is locked by this turn: no other turn can tell the debtor too.
    await s.execute(
        update(HandoffTicket).where(HandoffTicket.id == ticket.id).values(team_notice_at=now)
    )
    notice = await template_message(s, "team_with_you", debtor.locale, creditor)
    return Outcome(debtor.id, [notice])

"""Claims: one agent at a time owns a ticket, as a lease their activity renews.

Every change is one conditional ``UPDATE`` of the ticket row, so of two agents pressing Claim at
once exactly one changes it: on PostgreSQL the second waits for the first's row lock and then
finds the condition false; on SQLite transactions take the write lock when they begin. Each
change is audited with the agent as actor and publishes its console event in the same
transaction. A lease that ran out is released by :func:`release_expired` (the ticker runs it);
until then the ticket counts as held, so the bot stays silent in the chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.channel import Button, OutMessage
from bot.compliance.records import audit
from bot.db.models import Debtor, HandoffTicket, StaffUser, TicketStatus
from bot.handoff.events import publish
from bot.handoff.tickets import TicketError, live_ticket, resolve_ticket
from bot.i18n import translator
from bot.policy import Policy
from bot.templates.store import render

OUTCOMES = (
    "paid_in_full",
    "promise_recorded",
    "plan_agreed",
    "dispute_upheld",
    "dispute_rejected",
    "hardship_paused",
    "deceased_confirmed",
    "ceased",
    "no_contact",
    "other",
)
# The outcome of handing a conversation back to the bot (not one an agent picks to resolve).
HANDED_BACK = "handed_back"
# Tickets released in one pass at most; more wait for the next.
BATCH = 500


@dataclass(frozen=True)
class Claim:
    """What a claim came to: won (or renewed), or who holds the ticket instead."""

    won: bool
    holder_id: int | None
    holder_name: str | None
    ticket_id: int | None


def actor_of(staff_id: int) -> str:
    """The audit trail's name for an agent."""
    return f"staff:{staff_id}"


async def claim(
    s: AsyncSession, ticket_id: int, staff_id: int, now: datetime, policy: Policy
) -> Claim:
    """Take the ticket if it is free (or its lease ran out); renew it if the agent holds it.

    A free ticket takes one statement (its UPDATE returns what the audit and the event need):
    of many agents pressing Claim at once, the others wait only for that row's lock."""
    for _attempt in range(2):
        taken = await _take(s, HandoffTicket.id == ticket_id, staff_id, now, policy)
        if taken is not None:
            return taken
        holder = (
            await s.execute(
                select(
                    HandoffTicket.status, HandoffTicket.claimed_by, HandoffTicket.lease_until,
                    StaffUser.display_name,
                )
                .outerjoin(StaffUser, StaffUser.id == HandoffTicket.claimed_by)
                .where(HandoffTicket.id == ticket_id)
            )
        ).first()  # fmt: skip
        if holder is None:
            raise TicketError(f"no ticket {ticket_id}")
        status, held_by, lease_until, name = holder
        if status == TicketStatus.RESOLVED:
            raise TicketError(f"ticket {ticket_id} is already resolved")
        if status == TicketStatus.CLAIMED:
            if held_by == staff_id and await renew(s, ticket_id, staff_id, now, policy):
                return Claim(True, staff_id, name, ticket_id)
            if lease_until is None or lease_until >= now:
                return Claim(False, held_by, name, ticket_id)
            await _release_if_expired(s, ticket_id, now)
        # Open again (released a moment ago, or its lease just expired): try once more.
    return Claim(False, held_by, name, ticket_id)


async def claim_next(s: AsyncSession, staff_id: int, now: datetime, policy: Policy) -> Claim:
    """Take the oldest ticket nobody holds; ``won`` is False when none is waiting.

    Agents taking the next ticket at once never wait for each other: each skips the rows
    another is taking (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer)."""
    oldest = (
        select(HandoffTicket.id)
        .where(HandoffTicket.status == TicketStatus.OPEN)
        .order_by(HandoffTicket.opened_at, HandoffTicket.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    # The row found is locked for this transaction, so taking it cannot fail on PostgreSQL
    # (one UPDATE with this as its subquery could, when a concurrent claim re-checked it).
    while (ticket_id := await s.scalar(oldest)) is not None:
        taken = await _take(s, HandoffTicket.id == ticket_id, staff_id, now, policy)
        if taken is not None:
            return taken
    return Claim(False, None, None, None)


async def _take(
    s: AsyncSession, which: ColumnElement[bool], staff_id: int, now: datetime, policy: Policy
) -> Claim | None:
    """Claim the open ticket ``which`` names for the agent, audited, with its event."""
    name = select(StaffUser.display_name).where(StaffUser.id == staff_id).scalar_subquery()
    took = (
        await s.execute(
            update(HandoffTicket)
            .where(which, HandoffTicket.status == TicketStatus.OPEN)
            .values(
                status=TicketStatus.CLAIMED,
                claimed_by=staff_id,
                claimed_at=now,
                lease_until=now + timedelta(minutes=policy.handoff.lease_minutes),
                team_notice_at=None,
                updated_at=now,
            )
            .returning(HandoffTicket.id, HandoffTicket.debtor_id, name)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if took is None:
        return None
    ticket_id, debtor_id, staff_name = took
    before = (
        await s.execute(
            select(
                HandoffTicket.first_claimed_at,
                HandoffTicket.released_at,
                HandoffTicket.bot_seconds,
            ).where(HandoffTicket.id == ticket_id)
        )
    ).one()
    await s.execute(
        update(HandoffTicket)
        .where(HandoffTicket.id == ticket_id)
        .values(**claimed_timing(*before, now))
        .execution_options(synchronize_session=False)
    )
    audit(
        s, debtor_id, "ticket_claimed", actor=actor_of(staff_id), at=now,
        detail=f"ticket {ticket_id}",
    )  # fmt: skip
    publish(
        s, "ticket_claimed", now=now, ticket_id=ticket_id, debtor_id=debtor_id,
        staff_id=staff_id, staff_name=staff_name,
    )  # fmt: skip
    return Claim(True, staff_id, staff_name, ticket_id)


async def renew(
    s: AsyncSession, ticket_id: int, staff_id: int, now: datetime, policy: Policy
) -> bool:
    """Extend the lease of an agent at work on a ticket they hold; False if they do not."""
    renewed = await s.execute(
        update(HandoffTicket)
        .where(
            HandoffTicket.id == ticket_id,
            HandoffTicket.status == TicketStatus.CLAIMED,
            HandoffTicket.claimed_by == staff_id,
        )
        .values(lease_until=now + timedelta(minutes=policy.handoff.lease_minutes))
    )
    return renewed.rowcount == 1


async def holds(s: AsyncSession, ticket_id: int, staff_id: int) -> HandoffTicket:
    """The ticket, locked, if the agent holds it; TicketError saying why not otherwise."""
    ticket = await s.scalar(
        select(HandoffTicket)
        .where(HandoffTicket.id == ticket_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if ticket is None:
        raise TicketError("There is no such ticket.")
    if ticket.status == TicketStatus.RESOLVED:
        raise TicketError("This ticket is resolved; the bot has the conversation again.")
    if ticket.status != TicketStatus.CLAIMED or ticket.claimed_by != staff_id:
        raise TicketError("Only the agent holding this ticket can do that; claim it first.")
    return ticket


async def release_expired(s: AsyncSession, now: datetime) -> list[int]:
    """Put every ticket whose lease ran out back in the queue; their ids."""
    expired = (
        await s.execute(
            select(HandoffTicket.id, HandoffTicket.debtor_id, HandoffTicket.claimed_by)
            .where(HandoffTicket.status == TicketStatus.CLAIMED, HandoffTicket.lease_until < now)
            .order_by(HandoffTicket.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()
    released = []
    for ticket_id, debtor_id, holder in expired:
        if await _reopen(s, ticket_id, now, expired_only=True):
            _released(s, ticket_id, debtor_id, holder, now, why="expired", actor="system")
            released.append(ticket_id)
    return released


async def release(s: AsyncSession, ticket_id: int, staff_id: int, now: datetime) -> bool:
    """The holder puts the ticket back in the queue; False if they did not hold it."""
    ticket = await _load(s, ticket_id)
    if ticket is None or ticket.claimed_by != staff_id:
        return False
    if not await _reopen(s, ticket_id, now, holder=staff_id):
        return False
    _released(s, ticket_id, ticket.debtor_id, staff_id, now, why="released",
              actor=actor_of(staff_id))  # fmt: skip
    return True


async def reassign(
    s: AsyncSession,
    ticket_id: int,
    to_staff_id: int,
    by_staff_id: int,
    now: datetime,
    policy: Policy,
) -> HandoffTicket:
    """Give the ticket to another agent (admins only: the caller checks the role)."""
    target = await s.get(StaffUser, to_staff_id)
    if target is None or target.disabled_at is not None:
        raise TicketError("That colleague cannot take tickets.")
    ticket = await live_ticket(s, ticket_id)
    before = ticket.claimed_by if ticket.status == TicketStatus.CLAIMED else None
    if before == to_staff_id:
        return ticket
    if before is not None:
        publish(s, "ticket_released", now=now, ticket_id=ticket_id, debtor_id=ticket.debtor_id,
                why="reassigned")  # fmt: skip
    else:
        # Nobody had told the debtor a person was with them.
        ticket.team_notice_at = None
    ticket.status, ticket.claimed_by, ticket.claimed_at = TicketStatus.CLAIMED, to_staff_id, now
    for name, value in claimed_timing(
        ticket.first_claimed_at, ticket.released_at, ticket.bot_seconds, now
    ).items():
        setattr(ticket, name, value)
    ticket.lease_until = now + timedelta(minutes=policy.handoff.lease_minutes)
    ticket.updated_at = now
    from_ = actor_of(before) if before is not None else "queue"
    audit(
        s, ticket.debtor_id, "ticket_reassigned", actor=actor_of(by_staff_id), at=now,
        detail=f"ticket {ticket_id}: {from_} -> {actor_of(to_staff_id)}",
    )  # fmt: skip
    publish(
        s, "ticket_claimed", now=now, ticket_id=ticket_id, debtor_id=ticket.debtor_id,
        staff_id=to_staff_id, staff_name=target.display_name,
    )  # fmt: skip
    await s.flush()
    return ticket


async def resolve(
    s: AsyncSession, ticket_id: int, staff_id: int, outcome: str, note: str, now: datetime
) -> HandoffTicket:
    """The holder closes the ticket with an outcome of ``OUTCOMES`` and a note."""
    if outcome not in OUTCOMES:
        raise TicketError(f"unknown outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")
    return await _close(s, ticket_id, staff_id, outcome, note, now)


async def hand_back(
    s: AsyncSession, ticket_id: int, staff_id: int, now: datetime, creditor: str
) -> list[OutMessage]:
    """The holder gives the chat back to the bot; what to tell the debtor (to be queued)."""
    ticket = await _close(s, ticket_id, staff_id, HANDED_BACK, "", now)
    debtor = await s.get(Debtor, ticket.debtor_id)
    rendered = await render(s, "handed_back", debtor.locale, {"creditor": creditor})
    _ = translator(debtor.locale)
    # The debtor's way back into the bot's menu (a menu button any chat state answers).
    menu = [[Button(_(labels.MENU["balance"]), data="menu:balance")]]
    return [
        OutMessage(
            rendered.text, menu, kind="reply", template_key="handed_back",
            template_version=rendered.version,
            template_locale=rendered.locale,
        )
    ]  # fmt: skip


def claimed_timing(
    first_claimed_at: datetime | None,
    released_at: datetime | None,
    bot_seconds: int,
    now: datetime,
) -> dict[str, object]:
    """A claim's mark on the queue's figures: the first claim's instant, and the time the
    ticket spent back with the bot since a claim ended."""
    values: dict[str, object] = {"released_at": None}
    if first_claimed_at is None:
        values["first_claimed_at"] = now
    if released_at is not None:
        values["bot_seconds"] = bot_seconds + max(0, int((now - released_at).total_seconds()))
    return values


async def _close(
    s: AsyncSession, ticket_id: int, staff_id: int, outcome: str, note: str, now: datetime
) -> HandoffTicket:
    await holds(s, ticket_id, staff_id)
    return await resolve_ticket(
        s, ticket_id, now=now, actor=actor_of(staff_id), resolution=note.strip(), outcome=outcome
    )


async def _load(s: AsyncSession, ticket_id: int) -> HandoffTicket | None:
    return await s.get(HandoffTicket, ticket_id, populate_existing=True)


async def _release_if_expired(s: AsyncSession, ticket_id: int, now: datetime) -> None:
    """An expired lease is released (and audited) before anyone claims the ticket anew."""
    ticket = await _load(s, ticket_id)
    if ticket is None or ticket.status != TicketStatus.CLAIMED:
        return
    if ticket.lease_until is not None and ticket.lease_until < now:
        if await _reopen(s, ticket_id, now, expired_only=True):
            _released(s, ticket_id, ticket.debtor_id, ticket.claimed_by, now, why="expired",
                      actor="system")  # fmt: skip


async def _reopen(
    s: AsyncSession,
    ticket_id: int,
    now: datetime,
    *,
    expired_only: bool = False,
    holder: int | None = None,
) -> bool:
    """Claimed → open, if still claimed (and expired, or by ``holder``) when the row is locked."""
    condition = [HandoffTicket.id == ticket_id, HandoffTicket.status == TicketStatus.CLAIMED]
    if expired_only:
        condition.append(HandoffTicket.lease_until < now)
    if holder is not None:
        condition.append(HandoffTicket.claimed_by == holder)
    done = await s.execute(
        update(HandoffTicket)
        .where(*condition)
        .values(
            status=TicketStatus.OPEN,
            claimed_by=None,
            claimed_at=None,
            released_at=now,
            lease_until=None,
            team_notice_at=None,
            updated_at=now,
        )
    )
    return done.rowcount == 1


def _released(
    s: AsyncSession,
    ticket_id: int,
    debtor_id: int,
    holder: int | None,
    now: datetime,
    *,
    why: str,
    actor: str,
) -> None:
    kind = "claim_expired" if why == "expired" else "ticket_released"
    held_by = actor_of(holder) if holder is not None else "nobody"
    audit(s, debtor_id, kind, actor=actor, at=now, detail=f"ticket {ticket_id}: {held_by}")
    publish(s, "ticket_released", now=now, ticket_id=ticket_id, debtor_id=debtor_id, why=why)

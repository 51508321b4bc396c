"""Opening, listing and resolving handoff tickets; at most one open ticket per debtor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.models import Account, Debtor, HandoffTicket, TicketStatus
from bot.handoff.events import publish

REASONS = (
    "dispute",
    "hardship",
    "complaint",
    "deceased",
    "broken_promises",
    "plan_review",
    "plan_broken",
    "final_stage",
    "person_requested",
)
STATUS_ALL = "all"
# Losing the insert race twice in a row needs a ticket opened and resolved in between.
_ATTEMPTS = 3


class TicketError(ValueError):
    """A ticket request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class TicketRow:
    """One line of the ticket queue."""

    id: int
    opened_at: datetime
    status: str
    debtor_ref: str
    account_ref: str | None
    reasons: list[str]


async def open_ticket(
    session: AsyncSession,
    debtor_id: int,
    reason: str,
    *,
    now: datetime,
    actor: str,
    account_id: int | None = None,
    note: str | None = None,
) -> tuple[HandoffTicket, bool]:
    """Open a ticket for the debtor, or add the reason to their open one; True if new."""
    if reason not in REASONS:
        raise TicketError(f"unknown reason {reason!r}; use one of {', '.join(REASONS)}")
    await _check_parties(session, debtor_id, account_id)
    line = _note_line(now, actor, reason, note) if note else None
    for attempt in range(_ATTEMPTS):
        ticket = await _open_ticket_of(session, debtor_id)
        if ticket is not None:
            _join(session, ticket, reason, now=now, actor=actor, account_id=account_id, line=line)
            publish(session, "ticket_changed", now=now, ticket_id=ticket.id, debtor_id=debtor_id)
            return ticket, False
        ticket = HandoffTicket(
            debtor_id=debtor_id, account_id=account_id, status=TicketStatus.OPEN,
            reasons=[reason], note=line, opened_at=now, created_at=now, updated_at=now,
        )  # fmt: skip
        try:
            # Only the savepoint is lost when another process opened a ticket a moment ago;
            # the caller's transaction goes on and the next pass joins that ticket.
            async with session.begin_nested():
                session.add(ticket)
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        audit(
            session, debtor_id, "ticket_opened", actor=actor, at=now,
            detail=f"ticket {ticket.id}: {reason}",
        )  # fmt: skip
        publish(session, "ticket_opened", now=now, ticket_id=ticket.id, debtor_id=debtor_id)
        return ticket, True
    raise AssertionError("unreachable: the last attempt returns or raises")


async def list_tickets(session: AsyncSession, status: str | None = None) -> list[TicketRow]:
    """Tickets oldest first: not resolved by default, one status, or ``"all"``."""
    query = (
        select(
            HandoffTicket.id,
            HandoffTicket.opened_at,
            HandoffTicket.status,
            Debtor.debtor_ref,
            Account.account_ref,
            HandoffTicket.reasons,
        )
        .join(Debtor, Debtor.id == HandoffTicket.debtor_id)
        .outerjoin(Account, Account.id == HandoffTicket.account_id)
        .order_by(HandoffTicket.opened_at, HandoffTicket.id)
    )
    if status is None:
        query = query.where(HandoffTicket.status != TicketStatus.RESOLVED)
    elif status != STATUS_ALL:
        if status not in set(TicketStatus):
            raise TicketError(f"unknown status {status!r}")
        query = query.where(HandoffTicket.status == status)
    return [TicketRow(*row) for row in (await session.execute(query)).all()]


async def resolve_ticket(
    session: AsyncSession,
    ticket_id: int,
    *,
    now: datetime,
    actor: str,
    resolution: str,
    outcome: str | None = None,
) -> HandoffTicket:
    """Close a ticket with what was done (and, from the console, an outcome); the debtor may
    then get a new one, and the bot answers them again."""
    ticket = await live_ticket(session, ticket_id)
    ticket.status = TicketStatus.RESOLVED
    ticket.resolved_at = now
    ticket.resolution = resolution
    ticket.outcome = outcome
    # Who held it stays on record; the lease ends with the ticket.
    ticket.lease_until = None
    ticket.updated_at = now
    audit(
        session, ticket.debtor_id, "ticket_resolved", actor=actor, at=now,
        detail=f"ticket {ticket.id}" + (f": {outcome}" if outcome else ""),
    )  # fmt: skip
    publish(
        session, "ticket_resolved", now=now, ticket_id=ticket.id, debtor_id=ticket.debtor_id,
        outcome=outcome,
    )  # fmt: skip
    await session.flush()
    return ticket


async def live_ticket(session: AsyncSession, ticket_id: int) -> HandoffTicket:
    """The ticket, locked for this transaction; TicketError when missing or resolved."""
    ticket = await session.scalar(
        select(HandoffTicket)
        .where(HandoffTicket.id == ticket_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if ticket is None:
        raise TicketError(f"no ticket {ticket_id}")
    if ticket.status == TicketStatus.RESOLVED:
        raise TicketError(f"ticket {ticket_id} is already resolved")
    return ticket


async def _check_parties(session: AsyncSession, debtor_id: int, account_id: int | None) -> None:
    if await session.scalar(select(Debtor.id).where(Debtor.id == debtor_id)) is None:
        raise TicketError(f"no debtor {debtor_id}")
    if account_id is not None:
        owner = await session.scalar(select(Account.debtor_id).where(Account.id == account_id))
        if owner != debtor_id:
            raise TicketError(f"account {account_id} is not an account of debtor {debtor_id}")


async def note_open_ticket(
    session: AsyncSession, debtor_id: int, reason: str, note: str, *, now: datetime, actor: str
) -> bool:
    """Add a dated note to the debtor's open ticket, if they have one (True if so)."""
    ticket = await _open_ticket_of(session, debtor_id)
    if ticket is None:
        return False
    line = _note_line(now, actor, reason, note)
    ticket.note = f"{ticket.note}\n{line}" if ticket.note else line
    ticket.updated_at = now
    publish(session, "ticket_changed", now=now, ticket_id=ticket.id, debtor_id=debtor_id)
    return True


async def _open_ticket_of(session: AsyncSession, debtor_id: int) -> HandoffTicket | None:
    # FOR UPDATE (PostgreSQL) keeps two joiners from overwriting each other's reasons; SQLite
    # transactions already hold the write lock from their start.
    return await session.scalar(
        select(HandoffTicket)
        .where(HandoffTicket.debtor_id == debtor_id, HandoffTicket.status != TicketStatus.RESOLVED)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _join(
    session: AsyncSession,
    ticket: HandoffTicket,
    reason: str,
    *,
    now: datetime,
    actor: str,
    account_id: int | None,
    line: str | None,
) -> None:
    if reason not in ticket.reasons:
        # A new list, not an in-place append: the JSON column only notices reassignment.
        ticket.reasons = [*ticket.reasons, reason]
        audit(
            session, ticket.debtor_id, "ticket_reason_added", actor=actor, at=now,
            detail=f"ticket {ticket.id}: {reason}",
        )  # fmt: skip
    if line is not None:
        ticket.note = f"{ticket.note}\n{line}" if ticket.note else line
    if ticket.account_id is None and account_id is not None:
        ticket.account_id = account_id
    ticket.updated_at = now


def _note_line(now: datetime, actor: str, reason: str, note: str) -> str:
    return f"{now.astimezone(UTC):%Y-%m-%d %H:%M}Z {actor} [{reason}]: {note.strip()}"

"""Agents' private notes about a debtor, and what the holder of a ticket has read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit, storable
from bot.db.models import HandoffTicket, StaffNote, TicketStatus
from bot.handoff.events import publish
from bot.handoff.tickets import TicketError

MAX_NOTE = 4000


async def add_note(
    s: AsyncSession,
    debtor_id: int,
    staff_id: int,
    text: str,
    now: datetime,
    *,
    ticket_id: int | None = None,
) -> StaffNote:
    """Keep a note (never sent to the debtor), audited, with its console event."""
    body = text.strip()
    if not body:
        raise TicketError("A note needs some text.")
    if len(body) > MAX_NOTE:
        raise TicketError(f"A note may be at most {MAX_NOTE:,} characters.")
    note = StaffNote(
        debtor_id=debtor_id, ticket_id=ticket_id, staff_id=staff_id, text=storable(body),
        created_at=now,
    )  # fmt: skip
    s.add(note)
    await s.flush()
    audit(s, debtor_id, "note_added", actor=f"staff:{staff_id}", at=now, detail=f"note {note.id}")
    publish(s, "note", now=now, ticket_id=ticket_id, debtor_id=debtor_id, note_id=note.id)
    return note


async def mark_seen(s: AsyncSession, ticket_id: int, staff_id: int, log_id: int) -> bool:
    """The holder has read the conversation up to contact-log row ``log_id``."""
    seen = await s.execute(
        update(HandoffTicket)
        .where(
            HandoffTicket.id == ticket_id,
            HandoffTicket.status == TicketStatus.CLAIMED,
            HandoffTicket.claimed_by == staff_id,
            or_(HandoffTicket.seen_log_id.is_(None), HandoffTicket.seen_log_id < log_id),
        )
        .values(seen_log_id=log_id)
    )
    return seen.rowcount == 1

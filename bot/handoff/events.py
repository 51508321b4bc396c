"""Console events: what open consoles show live, written in the transaction of the change.

Every change an agent must see (a ticket opened, claimed, released or resolved; a message in or
out of a handed-off conversation; a reply's delivery; a note) adds one ``console_event`` row in
the same transaction as the change itself, so an event exists exactly when its change committed.
Consoles read them by increasing id (bot/web/console/live.py); any process's commit reaches a
console connected to any other.

Kinds and their data (all JSON, nothing a console could not show the agent anyway):

- ``ticket_opened`` / ``ticket_changed``: ``{}`` (the queue refetches the row). The planner
  opens final-stage tickets in bulk and publishes one ``ticket_opened`` per pass, with no
  ticket or debtor and ``{"count"}``; ``ticket_changed`` follows a reason joining a ticket, an
  agent's action on the debtor's behalf, and an opt-out during a ticket.
- ``ticket_claimed``: ``{"staff_id", "staff_name"}``; ``ticket_released``: ``{"why"}``
  ("expired", "reassigned", "released"); ``ticket_resolved``: ``{"outcome"}``
- ``message``: ``{"log_id", "direction", "kind"}`` for a contact-log row of a debtor with a
  ticket not resolved: what they wrote, what the bot or an agent answered, reminders
- ``delivery``: ``{"log_id", "status", "error"}`` when a stored reply a console watches (an
  agent's, or the bot's to a debtor with a ticket) was sent or failed; ``error`` is what the
  channel said ("forbidden: Forbidden: bot was blocked by the user"), None once sent
- ``note``: ``{"note_id"}``
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ConsoleEvent

KINDS = frozenset(
    {
        "ticket_opened",
        "ticket_changed",
        "ticket_claimed",
        "ticket_released",
        "ticket_resolved",
        "message",
        "delivery",
        "note",
    }
)


def publish(
    s: AsyncSession,
    kind: str,
    /,
    *,
    now: datetime,
    ticket_id: int | None = None,
    debtor_id: int | None = None,
    **data: object,
) -> None:
    """Add an event to the caller's transaction: it is seen if, and when, that commits.
    (``kind`` is positional only, so the data of a ``message`` may have a ``kind`` too.)"""
    if kind not in KINDS:
        raise ValueError(f"unknown console event {kind!r}")
    s.add(
        ConsoleEvent(
            kind=kind, ticket_id=ticket_id, debtor_id=debtor_id, data=data, created_at=now
        )
    )


async def after(s: AsyncSession, last_id: int, limit: int = 500) -> list[ConsoleEvent]:
    """Committed events with an id above ``last_id``, oldest first."""
    rows = await s.scalars(
        select(ConsoleEvent)
        .where(ConsoleEvent.id > last_id)
        .order_by(ConsoleEvent.id)
        .limit(limit)
    )
    return list(rows)

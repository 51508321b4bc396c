"""What consoles watch of the replies we send, and the events that tell them.

Consoles watch every agent's reply, and every reply to a chat whose debtor has a ticket not
resolved. When a watched reply becomes ``sent`` or ``failed`` a ``delivery`` console event is
written in the same transaction; a reminder written for such a debtor gets a ``message`` event.
The sender's recorder runs :func:`announce` inside its batch's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channel import OutMessage
from bot.db.models import ContactLog, Debtor, Direction, HandoffTicket, TicketStatus
from bot.handoff.events import publish

# The kind of an agent's reply in the contact log (its row names the agent in ``staff_id``).
AGENT = "agent"
# Set around each send of a watched chat: the Sender protocol has no room for it, and the
# sender's recorder must know while it settles the row (see ``announced``).
_watched: ContextVar[bool] = ContextVar("watched", default=False)


@contextmanager
def watching(watched: bool) -> Iterator[None]:
    """Sends in this block are of a chat consoles watch (or not)."""
    token = _watched.set(watched)
    try:
        yield
    finally:
        _watched.reset(token)


def announced(message: OutMessage) -> bool:
    """Whether consoles hear of this reply's delivery (for a sender settling its row)."""
    return message.kind == AGENT or _watched.get()


async def announce(
    s: AsyncSession,
    recorded: list[tuple[int, dict[str, Any]]],
    settled: list[tuple[int, dict[str, Any]]],
    *,
    now: datetime | None,
) -> None:
    """The console events of what a sender just wrote, in its transaction: a ``message`` for
    each new row (a reminder) of a debtor with a ticket not resolved, a ``delivery`` for each
    watched reply settled. ``now`` is the sender's clock (None: each row's own time)."""
    debtors = {row["debtor_id"] for _, row in recorded if row.get("debtor_id")}
    if debtors:
        tickets = dict(
            (
                await s.execute(
                    select(HandoffTicket.debtor_id, HandoffTicket.id).where(
                        HandoffTicket.debtor_id.in_(debtors),
                        HandoffTicket.status != TicketStatus.RESOLVED,
                    )
                )
            ).all()
        )
        for log_id, row in recorded:
            ticket_id = tickets.get(row.get("debtor_id"))
            if ticket_id is not None:
                publish(
                    s, "message", now=now or row["created_at"], ticket_id=ticket_id,
                    debtor_id=row["debtor_id"], log_id=log_id, direction=Direction.OUT.value,
                    kind=row["kind"],
                )  # fmt: skip
    if not settled:
        return
    found = await s.execute(
        select(ContactLog.id, ContactLog.debtor_id, ContactLog.created_at, HandoffTicket.id)
        .outerjoin(
            HandoffTicket,
            and_(
                HandoffTicket.debtor_id == ContactLog.debtor_id,
                HandoffTicket.status != TicketStatus.RESOLVED,
            ),
        )
        .where(ContactLog.id.in_([log_id for log_id, _ in settled]))
    )
    rows = {log_id: (debtor_id, at, ticket_id) for log_id, debtor_id, at, ticket_id in found}
    for log_id, values in settled:
        debtor_id, at, ticket_id = rows[log_id]
        publish(
            s, "delivery", now=now or values.get("sent_at") or at, ticket_id=ticket_id,
            debtor_id=debtor_id, log_id=log_id, status=str(values["status"]),
            error=values.get("error"),
        )  # fmt: skip


async def standing(s: AsyncSession, debtors: set[int]) -> tuple[dict[int, str], set[int]]:
    """The status of each debtor's ticket not resolved, and who may not be contacted at all."""
    if not debtors:
        return {}, set()
    tickets = dict(
        (
            await s.execute(
                select(HandoffTicket.debtor_id, HandoffTicket.status).where(
                    HandoffTicket.debtor_id.in_(debtors),
                    HandoffTicket.status != TicketStatus.RESOLVED,
                )
            )
        ).all()
    )
    stopped = set(
        (
            await s.execute(
                select(Debtor.id).where(
                    Debtor.id.in_(debtors),
                    or_(
                        Debtor.opted_out_at.is_not(None),
                        Debtor.cease_at.is_not(None),
                        Debtor.deceased_at.is_not(None),
                    ),
                )
            )
        ).scalars()
    )
    return tickets, stopped

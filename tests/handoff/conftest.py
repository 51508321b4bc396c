"""Helpers for the agent side of handed-off conversations: staff, debtors with tickets, events."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.db.models import AuditEvent, ConsoleEvent, StaffUser
from bot.handoff.tickets import open_ticket
from bot.policy import load_policy
from tests.helpers import add_debtor
from tests.reminders.conftest import post  # noqa: F401  (the local Telegram and our sender)

# A Tuesday: 10:00 in New York (inside the contact window), 15:00 UTC (inside business hours).
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
POLICY = load_policy()
CHAT = 9101


async def add_staff(sessions, username: str, role: str = "agent", name: str | None = None) -> int:
    """A console user (the password does not matter here)."""
    async with sessions.begin() as s:
        user = StaffUser(
            username=username, display_name=name or username.title(), password_hash="x",
            role=role, failed_logins=0, created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        s.add(user)
        await s.flush()
        return user.id


async def debtor_with_ticket(
    sessions,
    ref: str = "D-1",
    *,
    chat_id: int | None = CHAT,
    locale: str = "en_US",
    timezone: str = "America/New_York",
    reason: str = "person_requested",
    at: datetime = NOW,
) -> tuple[int, int]:
    """A verified debtor owing 100.00 with an open ticket; (debtor id, ticket id)."""
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, ref, accounts=[(f"{ref}-A", date(2026, 11, 1), 10000, "USD")], chat_id=chat_id,
            locale=locale, timezone=timezone, at=at,
        )  # fmt: skip
        ticket, _ = await open_ticket(s, debtor.id, reason, now=at, actor="debtor")
        return debtor.id, ticket.id


async def events(sessions, *kinds: str) -> list[tuple[str, int | None, int | None, dict]]:
    """(kind, ticket, debtor, data) of every console event (of these kinds), oldest first."""
    async with sessions() as s:
        query = select(ConsoleEvent).order_by(ConsoleEvent.id)
        if kinds:
            query = query.where(ConsoleEvent.kind.in_(kinds))
        return [(e.kind, e.ticket_id, e.debtor_id, e.data) for e in await s.scalars(query)]


async def audits(sessions, *kinds: str) -> list[tuple[str, str, str | None]]:
    """(kind, actor, detail) of the audit trail (of these kinds), oldest first."""
    async with sessions() as s:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if kinds:
            query = query.where(AuditEvent.kind.in_(kinds))
        return [(a.kind, a.actor, a.detail) for a in await s.scalars(query)]

"""The agent queue as the console shows it: open and claimed tickets, oldest first.

A read model only: one statement for the page, whatever the number of tickets, with what an
agent decides by at a glance (age against the SLA, reasons, who owes what, the debtor's local
time and whether it is inside the contact window, unread messages, who holds the ticket).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from bot.db.models import (
    Account,
    AccountStatus,
    ContactLog,
    Debtor,
    Direction,
    HandoffTicket,
    StaffUser,
    TicketStatus,
)
from bot.money import format_money
from bot.policy import Policy
from bot.policy.window import zone_clock

# The queue page shows this many tickets at most and says how many more wait.
PAGE = 200
FILTERS = ("all", "unclaimed", "mine")


@dataclass(frozen=True)
class QueueRow:
    """One ticket as a line of the queue."""

    ticket_id: int
    status: str
    opened_at: datetime
    age_minutes: int
    # "ok", "warn" (past half the SLA) or "late" (past the SLA)
    sla: str
    reasons: list[str]
    debtor_id: int
    debtor_name: str
    debtor_ref: str
    owed: list[str]  # one formatted amount per currency
    locale: str
    local_time: str  # "14:05 Tue"
    in_window: bool
    unread: int
    holder_id: int | None
    holder_name: str | None
    lease_until: datetime | None


@dataclass(frozen=True)
class Queue:
    """A page of the queue and how many tickets matched in all."""

    rows: list[QueueRow]
    total: int


def sla_state(age_minutes: int, sla_minutes: int) -> str:
    """How an age compares to the SLA: ``ok``, ``warn`` from half of it, ``late`` past it."""
    if age_minutes >= sla_minutes:
        return "late"
    return "warn" if age_minutes * 2 >= sla_minutes else "ok"


def unread_count() -> ScalarSelect[int]:
    """Debtor messages of a ticket's debtor after what its holder last saw, since it opened."""
    return (
        select(func.count(ContactLog.id))
        .where(
            ContactLog.debtor_id == HandoffTicket.debtor_id,
            ContactLog.direction == Direction.IN,
            ContactLog.created_at >= HandoffTicket.opened_at,
            ContactLog.id > func.coalesce(HandoffTicket.seen_log_id, 0),
        )
        .correlate(HandoffTicket)
        .scalar_subquery()
    )


async def queue(
    s: AsyncSession,
    now: datetime,
    policy: Policy,
    *,
    show: str = "all",
    staff_id: int | None = None,
    reason: str | None = None,
    limit: int = PAGE,
) -> Queue:
    """Open and claimed tickets, oldest first, filtered as the agent asked."""
    if show not in FILTERS:
        raise ValueError(f"unknown filter {show!r}")
    where = [HandoffTicket.status != TicketStatus.RESOLVED]
    if show == "unclaimed":
        where.append(HandoffTicket.status == TicketStatus.OPEN)
    elif show == "mine":
        where.append(HandoffTicket.status == TicketStatus.CLAIMED)
        where.append(HandoffTicket.claimed_by == staff_id)
    order = (HandoffTicket.opened_at, HandoffTicket.id)
    # First which tickets match (narrow columns over the whole queue), then the page's rows
    # with their unread counts: the count's subquery runs for a page, not for every ticket.
    matching = (
        await s.execute(
            select(HandoffTicket.id, HandoffTicket.reasons).where(*where).order_by(*order)
        )
    ).all()
    if reason is not None:
        # Reasons are a JSON list; the filter runs here so it reads the same on both databases.
        matching = [m for m in matching if reason in (m[1] or [])]
    page_ids = [m[0] for m in matching[:limit]]
    stmt = (
        select(
            HandoffTicket.id,
            HandoffTicket.status,
            HandoffTicket.opened_at,
            HandoffTicket.reasons,
            HandoffTicket.lease_until,
            Debtor.id,
            Debtor.full_name,
            Debtor.debtor_ref,
            Debtor.locale,
            Debtor.timezone,
            StaffUser.id,
            StaffUser.display_name,
            unread_count(),
        )
        .join(Debtor, Debtor.id == HandoffTicket.debtor_id)
        .outerjoin(
            StaffUser,
            and_(
                StaffUser.id == HandoffTicket.claimed_by,
                HandoffTicket.status == TicketStatus.CLAIMED,
            ),
        )
        .where(HandoffTicket.id.in_(page_ids))
        .order_by(*order)
    )
    rows = (await s.execute(stmt)).all() if page_ids else []
    total = len(matching)
    owed = await _owed(s, [r[5] for r in rows])
    out = []
    for r in rows:
        age = max(0, int((now - r[2]).total_seconds() // 60))
        clock = zone_clock(r[9], now, policy.window)
        local = now.astimezone(ZoneInfo(r[9]))
        out.append(
            QueueRow(
                ticket_id=r[0], status=r[1], opened_at=r[2], age_minutes=age,
                sla=sla_state(age, policy.handoff.sla_minutes), reasons=list(r[3] or []),
                debtor_id=r[5], debtor_name=r[6], debtor_ref=r[7], owed=owed.get(r[5], []),
                locale=r[8], local_time=f"{local:%H:%M %a}", in_window=clock.in_window,
                unread=r[12] or 0, holder_id=r[10], holder_name=r[11], lease_until=r[4],
            )
        )  # fmt: skip
    return Queue(out, total)


async def _owed(s: AsyncSession, debtor_ids: list[int]) -> dict[int, list[str]]:
    """What each debtor owes now, one formatted sum per currency."""
    if not debtor_ids:
        return {}
    sums = await s.execute(
        select(Account.debtor_id, Account.currency, func.sum(Account.amount_due_minor))
        .where(
            Account.debtor_id.in_(debtor_ids),
            Account.status == AccountStatus.OPEN,
            Account.amount_due_minor > 0,
        )
        .group_by(Account.debtor_id, Account.currency)
        .order_by(Account.debtor_id, Account.currency)
    )
    out: dict[int, list[str]] = defaultdict(list)
    for debtor_id, currency, minor in sums.all():
        out[debtor_id].append(format_money(int(minor), currency, "en"))
    return out

"""The agent queue's figures: tickets opened, how fast people took and answered them, how they
ended, and how many conversations the bot settled without a person."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from statistics import median, quantiles

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ContactLog, Direction, HandoffTicket
from bot.results.period import Period, Table, ratio, scoped


def _minutes(later: datetime | None, earlier: datetime | None, less: int = 0) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, ((later - earlier).total_seconds() - less) / 60)


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    return quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


async def queue_figures(session: AsyncSession, period: Period) -> list[Table]:
    """Tickets opened per day by reason; time to claim, to the first agent reply and to
    resolve (the time a ticket was back with the bot not counted); outcomes; containment."""
    t = HandoffTicket
    rows = (
        await session.execute(
            scoped(
                select(
                    t.opened_at,
                    t.reasons,
                    t.first_claimed_at,
                    t.first_reply_at,
                    t.resolved_at,
                    t.bot_seconds,
                ).where(period.during(t.opened_at)),
                t.debtor_id,
                period,
            )
        )
    ).all()
    per_day: Counter[tuple[str, str]] = Counter()
    claim, reply, resolve = [], [], []
    for opened, reasons, claimed, replied, resolved, bot_seconds in rows:
        per_day[(opened.date().isoformat(), (reasons or ["unknown"])[0])] += 1
        if (m := _minutes(claimed, opened)) is not None:
            claim.append(m)
        if (m := _minutes(replied, opened)) is not None:
            reply.append(m)
        # Time with people: from the first claim, less the time it was back in the queue.
        if claimed is not None and (m := _minutes(resolved, claimed, bot_seconds)) is not None:
            resolve.append(m)
    reasons = sorted({r for _, r in per_day})
    opened_table = Table("tickets_opened", "Tickets opened per day, by reason",
                         ["day", *reasons, "all"])  # fmt: skip
    for day in sorted({d for d, _ in per_day}):
        counts = [per_day[(day, r)] for r in reasons]
        opened_table.rows.append([day, *counts, sum(counts)])
    times = Table(
        "queue_times",
        "How fast people took tickets (minutes)",
        ["measure", "tickets", "median", "90th percentile"],
    )
    for label, values in (
        ("Time to claim", claim),
        ("Time to the first agent reply", reply),
        ("Time to resolve (with people only)", resolve),
    ):
        times.rows.append([label, len(values), median(values) if values else None, _p90(values)])
    outcomes = Table("outcomes", "Tickets resolved, by outcome", ["outcome", "tickets"])
    resolved_rows = await session.execute(
        scoped(
            select(t.outcome, func.count())
            .where(period.during(t.resolved_at))
            .group_by(t.outcome)
            .order_by(func.count().desc()),
            t.debtor_id,
            period,
        )
    )
    outcomes.rows = [[o or "unknown", n] for o, n in resolved_rows]
    return [opened_table, times, outcomes, await containment(session, period)]


async def containment(session: AsyncSession, period: Period) -> Table:
    """Debtors who wrote to the bot in the period, and how many of them never needed a person
    (no ticket opened for them in the period)."""
    wrote = scoped(
        select(ContactLog.debtor_id).where(
            ContactLog.direction == Direction.IN,
            ContactLog.debtor_id.is_not(None),
            period.during(ContactLog.created_at),
        ),
        ContactLog.debtor_id,
        period,
    ).distinct()
    ticketed = select(HandoffTicket.debtor_id).where(period.during(HandoffTicket.opened_at))
    sub = wrote.subquery()
    total, handed = (
        await session.execute(
            select(func.count(), func.count().filter(sub.c.debtor_id.in_(ticketed))).select_from(
                sub
            )
        )
    ).one()
    table = Table(
        "containment",
        "Conversations the bot settled",
        ["figure", "debtors", "rate"],
        percent=frozenset({"rate"}),
    )
    table.rows = [
        ["Wrote to the bot", total, None],
        ["Handed to a person", handed, ratio(handed, total)],
        ["Settled by the bot alone", total - handed, ratio(total - handed, total)],
    ]
    table.note = "Containment: debtors who wrote in the period and had no ticket opened in it."
    return table

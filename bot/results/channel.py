"""Channel health: what went out and what did not, chats lost, opt-outs per template version."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.models import (
    AuditEvent,
    ChannelLink,
    ContactLog,
    ContactStatus,
    Direction,
    OutboxStatus,
    ReminderOutbox,
)
from bot.results.period import Period, Table, ratio, scoped

# An opt-out counts against the proactive message the debtor got last, if within this long.
OPT_OUT_WINDOW = timedelta(days=7)
# Messages out that the bot did not send of itself: answers to what the debtor wrote, agents'.
NOT_PROACTIVE = ("reply", "agent")


def _outbox(period: Period, *conditions: object) -> object:
    query = select(ReminderOutbox.status, ReminderOutbox.reason, func.count())
    if period.stage is not None:
        query = query.where(ReminderOutbox.stage == period.stage)
    return scoped(
        query.where(*conditions).group_by(ReminderOutbox.status, ReminderOutbox.reason),
        ReminderOutbox.debtor_id,
        period,
    )


async def channel_health(session: AsyncSession, period: Period) -> Table:
    """Proactive messages sent, failed and skipped by reason, deferrals, blocked chats and
    opt-outs over the period."""
    sent = Counter[str]()
    rows = await session.execute(
        _outbox(
            period,
            ReminderOutbox.status == OutboxStatus.SENT,
            period.during(ReminderOutbox.sent_at),
        )
    )
    for _, _, n in rows:
        sent["sent"] += n
    planned = period.during(ReminderOutbox.planned_at)
    failed, skipped = Counter[str](), Counter[str]()
    rows = await session.execute(
        _outbox(period, planned, ReminderOutbox.status.in_([OutboxStatus.FAILED, "skipped"]))
    )
    for status, reason, n in rows:
        (failed if status == OutboxStatus.FAILED else skipped)[_short(reason)] += n
    deferrals = (
        await session.execute(
            scoped(
                select(
                    func.coalesce(func.sum(ReminderOutbox.window_deferrals), 0),
                    func.coalesce(func.sum(ReminderOutbox.gap_deferrals), 0),
                ).where(planned),
                ReminderOutbox.debtor_id,
                period,
            )
        )
    ).one()
    blocked = await session.scalar(
        scoped(
            select(func.count()).where(period.during(ChannelLink.unreachable_at)),
            ChannelLink.debtor_id,
            period,
        )
    )
    opt_outs = await session.scalar(
        scoped(
            select(func.count()).where(
                AuditEvent.kind == "opted_out", period.during(AuditEvent.created_at)
            ),
            AuditEvent.debtor_id,
            period,
        )
    )
    reached = await session.scalar(
        scoped(
            select(func.count(func.distinct(ReminderOutbox.debtor_id))).where(
                ReminderOutbox.status == OutboxStatus.SENT, period.during(ReminderOutbox.sent_at)
            ),
            ReminderOutbox.debtor_id,
            period,
        )
    )
    table = Table(
        "channel", "Channel health", ["figure", "count", "rate"], percent=frozenset({"rate"})
    )
    table.rows.append(["Proactive messages sent", sent["sent"], None])
    for reason, n in sorted(failed.items()):
        table.rows.append([f"Failed: {reason}", n, None])
    for reason, n in sorted(skipped.items()):
        table.rows.append([f"Skipped: {reason}", n, None])
    table.rows += [
        ["Put off by the contact window", deferrals[0], None],
        ["Put off by the gap or the time of day", deferrals[1], None],
        ["Chats that blocked the bot", blocked or 0, ratio(blocked or 0, reached or 0)],
        ["Opted out", opt_outs or 0, ratio(opt_outs or 0, reached or 0)],
    ]
    table.note = "Rates are of the debtors reached by a proactive message in the period."
    return table


def _short(reason: str | None) -> str:
    """A reason without its detail ("refused: Bad Request: …" → "refused")."""
    return (reason or "unknown").split(":")[0]


async def by_template_version(session: AsyncSession, period: Period) -> Table:
    """Per template, language and version of a proactive message: sent, failed, and opt-outs
    that followed it (the last proactive message before an opt-out, within a week)."""
    version = (ContactLog.template_key, ContactLog.template_locale, ContactLog.template_version)
    sends = await session.execute(
        scoped(
            select(*version, ContactLog.status, func.count())
            .where(
                ContactLog.direction == Direction.OUT,
                ContactLog.template_key.is_not(None),
                ContactLog.kind.not_in(NOT_PROACTIVE),
                period.during(ContactLog.created_at),
            )
            .group_by(*version, ContactLog.status),
            ContactLog.debtor_id,
            period,
        )
    )
    counts: dict[tuple[str, str | None, int | None], Counter[str]] = {}
    for key, locale, number, status, n in sends:
        counts.setdefault((key, locale, number), Counter())[status] += n
    earlier = aliased(ContactLog)
    last = (
        select(func.max(earlier.id))
        .where(
            earlier.debtor_id == AuditEvent.debtor_id,
            earlier.direction == Direction.OUT,
            earlier.template_key.is_not(None),
            earlier.kind.not_in(NOT_PROACTIVE),
            earlier.created_at <= AuditEvent.created_at,
        )
        .correlate(AuditEvent)
        .scalar_subquery()
    )
    # Opt-outs are few: the week is checked here rather than in SQL (SQLite has no intervals).
    opted = await session.execute(
        scoped(
            select(*version, AuditEvent.created_at, ContactLog.created_at)
            .select_from(AuditEvent)
            .join(ContactLog, ContactLog.id == last)
            .where(AuditEvent.kind == "opted_out", period.during(AuditEvent.created_at)),
            AuditEvent.debtor_id,
            period,
        )
    )
    for key, locale, number, opted_at, sent_at in opted:
        if opted_at - sent_at <= OPT_OUT_WINDOW:
            counts.setdefault((key, locale, number), Counter())["opted_out"] += 1
    table = Table(
        "versions",
        "Proactive messages by template version",
        ["template", "language", "version", "sent", "failed", "opt-outs", "opt-out rate"],
        percent=frozenset({"opt-out rate"}),
    )
    for (key, locale, number), c in sorted(counts.items(), key=lambda kv: str(kv[0])):
        delivered = c[ContactStatus.SENT]
        table.rows.append(
            [
                key,
                locale or "",
                number,
                delivered,
                c[ContactStatus.FAILED],
                c["opted_out"],
                ratio(c["opted_out"], delivered),
            ]
        )
    return table

"""From the book to money: the funnel of debtors, promises made and kept, plans kept to."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Select, and_, case, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnElement, Subquery

from bot.db.models import (
    Account,
    AccountBucket,
    ChannelLink,
    ContactLog,
    Direction,
    LinkToken,
    OutboxStatus,
    PlanInstallment,
    PlanStatus,
    Promise,
    PromiseStatus,
    ReminderOutbox,
    RepaymentPlan,
)
from bot.results.buckets import PAID
from bot.results.period import Period, Table, debtors_in_book, ratio, scoped

STEPS = (
    ("book", "In the portfolio"),
    ("exported", "Sent a link"),
    ("linked", "Opened the link"),
    ("verified", "Verified (right party)"),
    ("reached", "Reached by a reminder"),
    ("replied", "Replied"),
    ("agreed", "Promised or agreed a plan"),
    ("kept", "Kept it"),
    ("paid", "Paid in full"),
)


def _reminded(period: Period) -> list[ColumnElement[bool]]:
    """A stage reminder sent during the period."""
    return [
        ReminderOutbox.status == OutboxStatus.SENT,
        ReminderOutbox.kind == "stage",
        period.during(ReminderOutbox.sent_at),
    ]


def _step_sets(period: Period) -> dict[str, Select]:
    """Each step's debtors (not yet nested: the funnel nests them)."""
    first = (
        select(ReminderOutbox.debtor_id, func.min(ReminderOutbox.sent_at).label("at"))
        .where(*_reminded(period))
        .group_by(ReminderOutbox.debtor_id)
        .subquery("first_reminder")
    )
    return {
        "exported": select(LinkToken.debtor_id).where(LinkToken.created_at < period.until),
        "linked": select(ChannelLink.debtor_id).where(ChannelLink.linked_at < period.until),
        "verified": select(ChannelLink.debtor_id).where(ChannelLink.verified_at < period.until),
        "reached": select(ReminderOutbox.debtor_id).where(*_reminded(period)),
        "replied": select(ContactLog.debtor_id)
        .join(first, first.c.debtor_id == ContactLog.debtor_id)
        .where(
            ContactLog.direction == Direction.IN,
            ContactLog.created_at > first.c.at,
            ContactLog.created_at < period.until,
        ),
        "agreed": union(
            select(Promise.debtor_id).where(period.during(Promise.created_at)),
            select(RepaymentPlan.debtor_id).where(period.during(RepaymentPlan.created_at)),
        ),
        "kept": union(
            select(Promise.debtor_id).where(
                period.during(Promise.created_at), Promise.status == PromiseStatus.KEPT
            ),
            select(RepaymentPlan.debtor_id).where(
                period.during(RepaymentPlan.created_at),
                RepaymentPlan.status == PlanStatus.COMPLETED,
            ),
        ),
        "paid": select(Account.debtor_id)
        .join(AccountBucket, AccountBucket.account_id == Account.id)
        .where(
            AccountBucket.bucket == PAID,
            AccountBucket.from_day >= period.start,
            AccountBucket.from_day <= period.end,
        ),
    }


def _distinct(query: Select, name: str) -> Subquery:
    inner = query.subquery()
    return select(inner.c[0].label("debtor_id")).distinct().subquery(name)


async def funnel(session: AsyncSession, period: Period) -> tuple[Table, int]:
    """Debtors at each step, each step within the one before, with the rate between steps;
    and the verified debtors contacted (whether or not a link was sent), for promise-to-pay."""
    book = _distinct(debtors_in_book(period), "book")
    sets = {name: _distinct(q, name) for name, q in _step_sets(period).items()}
    query = select(func.count()).select_from(book)
    met = []
    for name in list(sets):
        sub = sets[name]
        query = query.outerjoin(sub, sub.c.debtor_id == book.c.debtor_id)
        met.append(sub.c.debtor_id.is_not(None))
        query = query.add_columns(func.count(case((and_(*met), 1))))
    # Promise-to-pay needs verified debtors contacted, whether or not they had a link sent.
    verified_reached = and_(
        sets["verified"].c.debtor_id.is_not(None), sets["reached"].c.debtor_id.is_not(None)
    )
    query = query.add_columns(func.count(case((verified_reached, 1))))
    counts = list((await session.execute(query)).one())
    *steps, contacted = counts
    table = Table(
        "funnel",
        "Funnel",
        ["step", "debtors", "of the step before", "of the portfolio"],
        percent=frozenset({"of the step before", "of the portfolio"}),
    )
    for i, ((_, label), count) in enumerate(zip(STEPS, steps, strict=True)):
        before = steps[i - 1] if i else None
        table.rows.append(
            [
                label,
                count,
                ratio(count, before) if before is not None else None,
                ratio(count, steps[0]),
            ]
        )
    return table, contacted


async def promise_rates(session: AsyncSession, period: Period, contacted: int) -> Table:
    """Promise-to-pay (promises and plans ÷ verified debtors contacted), promises kept ÷ due
    (partial apart), plan installments paid on time ÷ due."""
    made = 0
    for model in (Promise, RepaymentPlan):
        made += (
            await session.scalar(
                scoped(
                    select(func.count()).where(period.during(model.created_at)),
                    model.debtor_id,
                    period,
                )
            )
            or 0
        )
    by_status = dict(
        (
            await session.execute(
                scoped(
                    select(Promise.status, func.count())
                    .where(Promise.promised_date >= period.start)
                    .where(Promise.promised_date <= period.end)
                    .group_by(Promise.status),
                    Promise.debtor_id,
                    period,
                )
            )
        ).all()
    )
    judged = sum(by_status.get(s, 0) for s in ("kept", "partial", "broken"))
    on_time, late, missed, waiting = await _installments(session, period)
    due = on_time + late + missed
    table = Table(
        "rates",
        "Promises and plans",
        ["figure", "count", "of", "rate"],
        percent=frozenset({"rate"}),
    )
    kept, partial, broken = (by_status.get(s, 0) for s in ("kept", "partial", "broken"))
    table.rows = [
        ["Promise-to-pay", made, contacted, ratio(made, contacted)],
        ["Promises kept", kept, judged, ratio(kept, judged)],
        ["Promises kept in part", partial, judged, ratio(partial, judged)],
        ["Promises broken", broken, judged, ratio(broken, judged)],
        ["Promises not yet judged", by_status.get("open", 0), None, None],
        ["Installments paid on time", on_time, due, ratio(on_time, due)],
        ["Installments paid late", late, due, ratio(late, due)],
        ["Installments not yet judged", waiting, None, None],
    ]
    table.note = (
        "Promise-to-pay: promises and plans made ÷ verified debtors reached by a reminder. "
        "Promises: of those due in the period and judged (kept, in part, broken). "
        "Installments: of those due in the period and paid or missed."
    )
    return table


async def _installments(session: AsyncSession, period: Period) -> tuple[int, int, int, int]:
    """Installments due in the period: paid on time, paid late, missed, not yet judged."""
    rows = await session.execute(
        scoped(
            select(PlanInstallment.due_date, PlanInstallment.status, PlanInstallment.paid_at)
            .join(RepaymentPlan, RepaymentPlan.id == PlanInstallment.plan_id)
            .where(
                PlanInstallment.due_date >= period.start,
                PlanInstallment.due_date <= period.end,
                RepaymentPlan.status.not_in([PlanStatus.CANCELLED, PlanStatus.REVIEW]),
            ),
            RepaymentPlan.debtor_id,
            period,
        )
    )
    on_time = late = missed = waiting = 0
    for due, status, paid_at in rows:
        if status == "paid" and paid_at is not None:
            day_after = datetime.combine(due + timedelta(days=1), time(), UTC)
            if paid_at < day_after:
                on_time += 1
            else:
                late += 1
        elif status == "missed":
            missed += 1
        else:
            waiting += 1
    return on_time, late, missed, waiting

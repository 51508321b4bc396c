"""From the book to money: the funnel of debtors, promises made and kept, plans kept to."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, Select, case, exists, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from bot.db.models import (
    AccountBucket,
    ContactLog,
    Debtor,
    DebtorOwing,
    Direction,
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


def _first_reminders(period: Period) -> Select[Any]:
    """Each debtor's first stage reminder sent during the period."""
    sent = ReminderOutbox
    return (
        select(sent.debtor_id, func.min(sent.sent_at).label("at"))
        .where(sent.status == OutboxStatus.SENT, sent.kind == "stage", period.during(sent.sent_at))
        .group_by(sent.debtor_id)
    )


def _period_facts(period: Period) -> Select[Any]:
    """(debtor, the steps they took during the period, as bits) for the few debtors who took
    any: reached, replied, agreed, kept, paid. The book and the links come from each debtor's
    spell in the book (``debtor_owing``) instead, one row per debtor with no grouping."""
    first = _first_reminders(period).subquery("first_reminder")
    log = ContactLog
    wrote_after = exists().where(
        log.debtor_id == first.c.debtor_id,
        log.direction == Direction.IN,
        log.created_at > first.c.at,
        log.created_at < period.until,
    )
    facts = union_all(
        _fact(first.c.debtor_id, _bit("reached") + _bit("replied", wrote_after)),
        _fact(
            Promise.debtor_id,
            _bit("agreed") + _bit("kept", Promise.status == PromiseStatus.KEPT),
        ).where(period.during(Promise.created_at)),
        _fact(
            RepaymentPlan.debtor_id,
            _bit("agreed") + _bit("kept", RepaymentPlan.status == PlanStatus.COMPLETED),
        ).where(period.during(RepaymentPlan.created_at)),
        _fact(AccountBucket.debtor_id, _bit("paid")).where(
            AccountBucket.bucket == PAID,
            AccountBucket.from_day >= period.start,
            AccountBucket.from_day <= period.end,
        ),
    ).subquery("fact")
    return select(facts.c.debtor_id, bits_or(facts.c.bits).label("bits")).group_by(
        facts.c.debtor_id
    )


def _book(period: Period) -> Select[Any]:
    """Each debtor in the book during the period once (by the first of their spells that
    reaches into it), with the bits of their book and link steps and of the period's facts."""
    spell, until = DebtorOwing, period.until
    facts = _period_facts(period).subquery("per_debtor")
    # The spell's steps and the period's are different bits, so adding them is OR-ing them.
    bits = (
        _bit("book")
        + _bit("exported", spell.link_sent_at < until)
        + _bit("linked", spell.linked_at < until)
        + _bit("verified", spell.verified_at < until)
        + func.coalesce(facts.c.bits, 0)
    )
    query = (
        select(bits.label("bits"))
        .select_from(spell)
        .outerjoin(facts, facts.c.debtor_id == spell.debtor_id)
        .where(
            spell.from_day <= period.end,
            or_(spell.until_day.is_(None), spell.until_day > period.start),
            # The debtor's spell before this one, if any, ended before the period began.
            or_(spell.prev_until.is_(None), spell.prev_until <= period.start),
        )
    )
    if period.stage is not None:
        query = query.where(spell.debtor_id.in_(debtors_in_book(period)))
    elif period.locale is not None:
        query = query.where(
            spell.debtor_id.in_(select(Debtor.id).where(Debtor.locale == period.locale))
        )
    return query


BITS = {name: 1 << i for i, (name, _) in enumerate(STEPS)}


def _bit(step: str, condition: ColumnElement[bool] | None = None) -> ColumnElement[int]:
    """A step's bit, always or where ``condition`` holds."""
    if condition is None:
        return literal(BITS[step], Integer())
    return case((condition, BITS[step]), else_=0)


def _fact(debtor_id: ColumnElement[int], bits: ColumnElement[int]) -> Select:
    return select(debtor_id.label("debtor_id"), bits.label("bits"))


class bits_or(FunctionElement[int]):
    """The bitwise OR of an integer column over a group."""

    type = Integer()
    inherit_cache = True


@compiles(bits_or, "postgresql")
def _bits_or_pg(element: bits_or, compiler: Any, **kw: Any) -> str:
    return f"bit_or({compiler.process(element.clauses, **kw)})"


@compiles(bits_or, "sqlite")
def _bits_or_sqlite(element: bits_or, compiler: Any, **kw: Any) -> str:
    # SQLite has no bitwise aggregate: one max per bit.
    column = compiler.process(element.clauses, **kw)
    return "(" + " | ".join(f"max({column} & {bit})" for bit in BITS.values()) + ")"


def _all(bits: ColumnElement[int], *steps: str) -> ColumnElement[bool]:
    """Every one of ``steps`` reached."""
    need = sum(BITS[s] for s in steps)
    return bits.op("&")(need) == need


async def funnel(session: AsyncSession, period: Period) -> tuple[Table, int]:
    """Debtors at each step, each step within the one before, with the rate between steps;
    and the verified debtors contacted (whether or not a link was sent), for promise-to-pay."""
    bits = _book(period).subquery("per_debtor").c.bits
    names = [name for name, _ in STEPS]
    counts = [func.count(case((_all(bits, *names[: i + 1]), 1))) for i in range(len(names))]
    # Promise-to-pay needs verified debtors contacted, whether or not they had a link sent.
    contacted = func.count(case((_all(bits, "book", "verified", "reached"), 1)))
    query = select(*counts, contacted)
    *steps, contacted = list((await session.execute(query)).one())
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

"""The book over time, read from the recorded buckets: roll rates, cures, money recovered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.models import Account, AccountBucket, Debtor, Payment
from bot.money import format_money
from bot.policy import Policy
from bot.results.buckets import CLOSED, PAID, bucket_names, overdue_buckets
from bot.results.period import Period, Table, bucket_on, in_scope, ratio, scoped, utc_day


async def roll_rates(session: AsyncSession, policy: Policy, period: Period) -> Table:
    """Accounts by bucket on the period's first day against their bucket on its last day."""
    start, end = aliased(AccountBucket), aliased(AccountBucket)
    query = (
        select(start.bucket, end.bucket, func.count())
        .select_from(start)
        .join(end, end.account_id == start.account_id)
        .where(bucket_on(period.start, start), bucket_on(period.end, end))
        .group_by(start.bucket, end.bucket)
    )
    if period.stage is not None:
        query = query.where(start.bucket == period.stage)
    if period.locale is not None:
        query = query.join(
            Debtor, and_(Debtor.id == start.debtor_id, Debtor.locale == period.locale)
        )
    counts: dict[tuple[str, str], int] = {
        (a, b): n for a, b, n in (await session.execute(query)).all()
    }
    names = [n for n in bucket_names(policy) if any(n in pair for pair in counts)]
    table = Table(
        "roll_rates",
        f"Roll rates, {period.start.isoformat()} → {period.end.isoformat()}",
        ["bucket on the first day", *names, "accounts"],
        percent=frozenset(names),
    )
    for a in names:
        total = sum(counts.get((a, b), 0) for b in names)
        if total:
            table.rows.append([a, *(ratio(counts.get((a, b), 0), total) for b in names), total])
    table.note = "Each row: where the accounts of one bucket were on the period's last day."
    return table


async def cure_rate(session: AsyncSession, policy: Policy, period: Period) -> Table:
    """Accounts overdue on the period's first day that were paid by its last, by bucket."""
    start, end = aliased(AccountBucket), aliased(AccountBucket)
    overdue = overdue_buckets(policy) if period.stage is None else [period.stage]
    query = (
        select(start.bucket, func.count(), func.count(end.id))
        .select_from(start)
        .outerjoin(
            end,
            and_(
                end.account_id == start.account_id, bucket_on(period.end, end), end.bucket == PAID
            ),
        )
        .where(bucket_on(period.start, start), start.bucket.in_(overdue))
        .group_by(start.bucket)
    )
    if period.locale is not None:
        query = query.join(
            Debtor, and_(Debtor.id == start.debtor_id, Debtor.locale == period.locale)
        )
    found = {b: (n, cured) for b, n, cured in (await session.execute(query)).all()}
    table = Table(
        "cure",
        "Cure rate",
        ["bucket on the first day", "overdue", "paid by the end", "cure rate"],
        percent=frozenset({"cure rate"}),
    )
    for name in [n for n in bucket_names(policy) if n in found]:
        n, cured = found[name]
        table.rows.append([name, n, cured, ratio(cured, n)])
    total, cured = sum(v[0] for v in found.values()), sum(v[1] for v in found.values())
    table.rows.append(["all overdue", total, cured, ratio(cured, total)])
    return table


async def recovered(session: AsyncSession, period: Period, locale: str = "en") -> Table:
    """Money received per day per currency (never added across currencies)."""
    day = utc_day(Payment.paid_at)
    rows = await session.execute(
        _payers_scoped(
            select(day, Payment.currency, func.sum(Payment.amount_minor))
            .where(period.during(Payment.paid_at))
            .group_by(day, Payment.currency)
            .order_by(day, Payment.currency),
            period,
        )
    )
    table = Table(
        "recovered", "Recovered per day", ["day", "currency", "amount (minor units)", "amount"]
    )
    for d, currency, total in rows:
        amount = int(total)  # PostgreSQL sums integers as numeric
        table.rows.append([str(d), currency, amount, format_money(amount, currency, locale)])
    return table


async def liquidation(session: AsyncSession, period: Period, locale: str = "en") -> Table:
    """Per currency: recovered in the period against what was placed (owed on its first day,
    plus what came into the book during it)."""
    b = AccountBucket
    owed = await _sums(
        session,
        scoped(
            select(b.currency, func.sum(b.balance_minor)).where(
                bucket_on(period.start), b.bucket.not_in([PAID, CLOSED])
            ),
            b.debtor_id,
            period,
        ),
    )
    # Accounts' first stretches, read by their own index.
    placed = await _sums(
        session,
        scoped(
            select(b.currency, func.sum(b.balance_minor)).where(
                b.opening, b.from_day > period.start, b.from_day <= period.end
            ),
            b.debtor_id,
            period,
        ),
    )
    got = await _sums(
        session,
        _payers_scoped(
            select(Payment.currency, func.sum(Payment.amount_minor)).where(
                period.during(Payment.paid_at)
            ),
            period,
        ),
    )
    table = Table(
        "liquidation",
        "Recovered against placed",
        ["currency", "owed on the first day", "placed during", "recovered", "liquidation rate"],
        percent=frozenset({"liquidation rate"}),
    )
    for currency in sorted(set(owed) | set(placed) | set(got)):
        base = owed.get(currency, 0) + placed.get(currency, 0)
        money = [format_money(d.get(currency, 0), currency, locale) for d in (owed, placed, got)]
        table.rows.append([currency, *money, ratio(got.get(currency, 0), base)])
    return table


async def _sums(session: AsyncSession, query: Select[Any]) -> dict[str, int]:
    """Amounts by currency from ``query`` (currency, sum)."""
    rows = await session.execute(query.group_by(query.selected_columns[0]))
    return {c: int(total or 0) for c, total in rows.all()}


def _payers_scoped(query: Select[Any], period: Period) -> Select[Any]:
    """A query of payments kept to the period's scope through their account's debtor (the
    million accounts are joined only when there is a scope)."""
    if in_scope(Account.debtor_id, period) is None:
        return query
    return scoped(query.join(Account, Account.id == Payment.account_id), Account.debtor_id, period)

"""Each account's delinquency bucket over time, recorded once a day, so figures for a past day
never depend on today's accounts (``account_bucket``: a row per stretch of days in a bucket).

A bucket is the policy stage the account's days past due fall in (a gap between two stages
belongs to the one before: the due day itself is ``pre_due`` by default), ``final`` from the
final stage on, ``current`` before the first stage, and ``paid`` or ``closed``. The day is the
debtor's own local date, as the planner reckons it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    literal,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import ColumnElement

from bot.db.engine import dialect_insert
from bot.db.models import Account, AccountBucket, AccountStatus, Debtor, Payment
from bot.db.models_results import CLOSED_BUCKET as CLOSED
from bot.db.models_results import PAID_BUCKET as PAID
from bot.policy import Policy
from bot.policy.window import ZoneClock
from bot.reminders.planner import ZONES_PER_STATEMENT, clocks_for_all_zones
from bot.reminders.sqlparts import days_since_epoch, rows_table
from bot.results.owing import linked_since_last_rebuild, rebuild_owing

CURRENT, FINAL = "current", "final"
# The PostgreSQL advisory lock that lets one process record at a time ("bucket" in ASCII).
LOCK_KEY = 0x6275636B6574

_scratch = MetaData()
bucket_today = Table(
    "bucket_today",
    _scratch,
    Column("account_id", BigInteger, primary_key=True),
    Column("debtor_id", BigInteger, nullable=False),
    Column("bucket", String(16), nullable=False),
    Column("day", Date, nullable=False),
    Column("balance_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    prefixes=["TEMPORARY"],
)
# The debtors whose spells in the book a recording rebuilds.
owing_touched = Table(
    "owing_touched",
    _scratch,
    Column("debtor_id", BigInteger, primary_key=True),
    prefixes=["TEMPORARY"],
)


def bucket_names(policy: Policy) -> list[str]:
    """Every bucket in order of delinquency, for charts and tables."""
    stages = [s.name for s in sorted(policy.stages, key=lambda s: s.from_dpd)]
    return [CURRENT, *stages, FINAL, PAID, CLOSED]


def overdue_buckets(policy: Policy) -> list[str]:
    """The buckets of accounts past their due date (a cure starts from one of these)."""
    return [s.name for s in policy.stages if s.to_dpd >= 1] + [FINAL]


def bucket_of_dpd(policy: Policy, dpd: int) -> str:
    """The bucket of an open, owed account ``dpd`` days past due (the SQL below, in Python)."""
    if dpd >= policy.final.from_dpd:
        return FINAL
    found = CURRENT
    for stage in sorted(policy.stages, key=lambda s: s.from_dpd):
        if dpd >= stage.from_dpd:
            found = stage.name
    return found


def _bucket_sql(policy: Policy, dpd: ColumnElement[int]) -> ColumnElement[str]:
    """An account's bucket as SQL over its row and its days past due."""
    whens: list[tuple[ColumnElement[bool], ColumnElement[str]]] = [
        (Account.status == AccountStatus.CLOSED, literal(CLOSED)),
        (
            (Account.status == AccountStatus.PAID) | (Account.amount_due_minor <= 0),
            literal(PAID),
        ),
        (dpd >= policy.final.from_dpd, literal(FINAL)),
    ]
    for stage in sorted(policy.stages, key=lambda s: -s.from_dpd):
        whens.append((dpd >= stage.from_dpd, literal(stage.name)))
    return case(*whens, else_=literal(CURRENT))


@dataclass(frozen=True)
class Recorded:
    """What one recording did."""

    started: int  # stretches begun (a first record, or a change of bucket)
    ended: int  # stretches that ended with it


async def record_buckets(session: AsyncSession, policy: Policy, now: datetime) -> Recorded:
    """Record every account's bucket on its debtor's local date at ``now``: a change of bucket
    ends the account's stretch and begins another; recording again the same day changes only
    what changed since (the last word of a day is that day's bucket)."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        # Processes planning at once would end and begin the same stretches (and deadlock on
        # them): one records at a time, the next finds nothing left; the lock ends with the
        # transaction. SQLite has one writer anyway.
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    # A table left by a failed recording on this connection goes first; a failure here leaves
    # the transaction to be rolled back, which takes the table with it.
    await _drop_scratch(connection)
    await connection.run_sync(bucket_today.create)
    await connection.run_sync(owing_touched.create)
    # Each zone's date as the planner reckons it, in statements SQLite can take.
    clocks = await clocks_for_all_zones(session, policy, now)
    for start in range(0, len(clocks), ZONES_PER_STATEMENT):
        await session.execute(_fill(policy, clocks[start : start + ZONES_PER_STATEMENT]))
    if connection.dialect.name == "postgresql":
        await connection.execute(text("ANALYZE bucket_today"))
    recorded, touched = await _apply(session, now)
    linked = await linked_since_last_rebuild(session)
    if linked is None:  # no spells yet: every debtor's
        await rebuild_owing(session, now)
    else:
        touched.update((await session.scalars(union(*linked))).all())
        if touched:
            await session.execute(
                owing_touched.insert(), [{"debtor_id": d} for d in sorted(touched)]
            )
            await rebuild_owing(session, now, select(owing_touched.c.debtor_id))
    await _drop_scratch(connection)
    return recorded


async def _drop_scratch(connection: AsyncConnection) -> None:
    for table in ("bucket_today", "owing_touched"):
        await connection.execute(text(f"DROP TABLE IF EXISTS {table}"))


def _fill(policy: Policy, clocks: list[ZoneClock]) -> object:
    zone = rows_table(
        "zone_day",
        {"tz": str, "zday": int, "day": date},
        [(c.zone, c.day, c.local_date) for c in clocks],
    )
    dpd = zone.c.zday - days_since_epoch(Account.due_date)
    rows = (
        select(
            Account.id,
            Account.debtor_id,
            _bucket_sql(policy, dpd),
            zone.c.day,
            Account.amount_due_minor,
            Account.currency,
        )
        .select_from(Account)
        .join(Debtor, Debtor.id == Account.debtor_id)
        .join(zone, zone.c.tz == Debtor.timezone)
    )
    columns = ["account_id", "debtor_id", "bucket", "day", "balance_minor", "currency"]
    return bucket_today.insert().from_select(columns, rows)


async def _apply(session: AsyncSession, now: datetime) -> tuple[Recorded, set[int]]:
    """Apply today's buckets; what changed, and the debtors whose stretches changed (the
    debtors an account left and joined; a stretch begun today that changes hands again the
    same day names only its new debtor)."""
    t, b, prior = bucket_today.c, AccountBucket, aliased(AccountBucket)
    is_open = and_(t.account_id == b.account_id, b.until_day.is_(None))
    # A stretch is one bucket of one debtor's account: a change of either begins another.
    changed = or_(t.bucket != b.bucket, t.debtor_id != b.debtor_id)
    # A stretch begun today whose bucket changed again today: today's last word wins.
    same_day = await session.execute(
        update(b)
        .where(
            b.until_day.is_(None),
            exists().where(t.account_id == b.account_id, t.day == b.from_day, changed),
        )
        .values(
            bucket=select(t.bucket).where(t.account_id == b.account_id).scalar_subquery(),
            debtor_id=select(t.debtor_id).where(t.account_id == b.account_id).scalar_subquery(),
            recorded_at=now,
        )
        .returning(b.debtor_id)
        .execution_options(synchronize_session=False)
    )
    ended = await session.execute(
        update(b)
        .where(
            b.until_day.is_(None),
            exists().where(t.account_id == b.account_id, t.day > b.from_day, changed),
        )
        .values(until_day=select(t.day).where(t.account_id == b.account_id).scalar_subquery())
        .returning(b.debtor_id)
        .execution_options(synchronize_session=False)
    )
    begun = await session.execute(
        dialect_insert(session, AccountBucket)
        .from_select(
            [
                "account_id",
                "debtor_id",
                "bucket",
                "from_day",
                "balance_minor",
                "currency",
                "opening",
                "recorded_at",
            ],
            select(
                t.account_id,
                t.debtor_id,
                t.bucket,
                t.day,
                t.balance_minor,
                t.currency,
                # No stretch at all yet: the account comes into the book today.
                ~exists().where(prior.account_id == t.account_id),
                literal(now, AccountBucket.recorded_at.type),
            ).where(~exists().where(is_open)),
        )
        .on_conflict_do_nothing(index_elements=["account_id", "from_day"])
        .returning(AccountBucket.debtor_id)
    )
    rewritten, closed, opened = (list(r.scalars()) for r in (same_day, ended, begun))
    recorded = Recorded(started=len(opened) + len(rewritten), ended=len(closed))
    return recorded, {*rewritten, *closed, *opened}


async def correct_for_payments(session: AsyncSession, refs: list[str], now: datetime) -> int:
    """A payment recorded after the day it was made corrects the history it touches: stretches
    begun after that day owed less, and an account it paid off was ``paid`` from that day on.
    Returns how many accounts' histories changed."""
    if not refs:
        return 0
    rows = (
        await session.execute(
            select(
                Payment.account_id,
                Payment.amount_minor,
                Payment.paid_at,
                Debtor.timezone,
                Account.status,
                Account.paid_at,
            )
            .join(Account, Account.id == Payment.account_id)
            .join(Debtor, Debtor.id == Account.debtor_id)
            .where(Payment.payment_ref.in_(refs))
        )
    ).all()
    touched: set[int] = set()
    owed_less: list[dict[str, object]] = []
    paid_off: dict[int, date] = {}
    for account_id, amount, paid_at, zone, status, account_paid_at in rows:
        tz = ZoneInfo(zone)
        day, today = paid_at.astimezone(tz).date(), now.astimezone(tz).date()
        if day >= today:
            continue  # today's record will see it
        owed_less.append({"a": account_id, "d": day, "m": amount})
        touched.add(account_id)
        if status == AccountStatus.PAID and account_paid_at is not None:
            paid_off[account_id] = min(account_paid_at.astimezone(tz).date(), today)
    if owed_less:
        table = AccountBucket.__table__
        await session.execute(
            update(table)
            .where(table.c.account_id == bindparam("a"), table.c.from_day > bindparam("d"))
            .values(balance_minor=table.c.balance_minor - bindparam("m")),
            owed_less,
        )
    if paid_off:
        debtors = select(AccountBucket.debtor_id).where(AccountBucket.account_id.in_(paid_off))
        before = set((await session.scalars(debtors)).all())
        for account_id, day in paid_off.items():
            await _paid_from(session, account_id, day, now)
        before.update((await session.scalars(debtors)).all())
        await rebuild_owing(session, now, select(Debtor.id).where(Debtor.id.in_(before)))
    return len(touched)


async def _paid_from(session: AsyncSession, account_id: int, day: date, now: datetime) -> None:
    """Rewrite an account's history so that it is ``paid`` from ``day`` on."""
    b = AccountBucket
    mine = b.account_id == account_id
    await session.execute(b.__table__.delete().where(mine, b.from_day > day))
    holding = (
        (
            await session.execute(
                select(b).where(mine, b.from_day <= day).order_by(b.from_day.desc())
            )
        )
        .scalars()
        .first()
    )
    if holding is not None and holding.bucket == PAID:
        holding.until_day = None
        return
    if holding is not None and holding.from_day == day:
        holding.bucket, holding.until_day, holding.recorded_at = PAID, None, now
        return
    if holding is not None:
        holding.until_day = day
    account = await session.get(Account, account_id)
    session.add(
        AccountBucket(
            account_id=account_id,
            debtor_id=account.debtor_id,
            bucket=PAID,
            from_day=day,
            until_day=None,
            balance_minor=0,
            currency=account.currency,
            # Paid before its first recorded day: this is now its first stretch.
            opening=holding is None,
            recorded_at=now,
        )
    )
    await session.flush()

"""Each account's bucket over time: recorded once a day on the debtor's date, rewritten by a
payment recorded after the day it was made."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.db.models import Account, AccountBucket
from bot.policy import load_policy
from bot.results.buckets import bucket_names, bucket_of_dpd, record_buckets
from bot.services.payments import import_payments
from tests.helpers import add_debtor, write_csv

POLICY = load_policy()


def at(day: str, hour: int = 15) -> datetime:
    """An instant on a day (UTC)."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


async def history(sessions, ref: str) -> list[tuple[str, str, str | None, int]]:
    """An account's stretches: bucket, from, until, balance."""
    async with sessions() as s:
        rows = await s.execute(
            select(AccountBucket)
            .join(Account, Account.id == AccountBucket.account_id)
            .where(Account.account_ref == ref)
            .order_by(AccountBucket.from_day)
        )
        return [
            (
                b.bucket,
                b.from_day.isoformat(),
                b.until_day.isoformat() if b.until_day else None,
                b.balance_minor,
            )
            for b in rows.scalars()
        ]


async def pay(sessions, tmp_path, rows: str, now: datetime) -> None:
    """Import a payments file at ``now``."""
    path = write_csv(tmp_path / "payments.csv", "payment_ref,account_ref,amount,paid_at\n" + rows)
    report = await import_payments(sessions, path, POLICY, clock=lambda: now)
    assert report.errors == []


async def record(sessions, now: datetime) -> None:
    async with sessions.begin() as s:
        await record_buckets(s, POLICY, now)


def test_buckets_follow_the_policy_stages() -> None:
    assert bucket_names(POLICY) == [
        "current", "pre_due", "early", "mid", "late", "final", "paid", "closed",
    ]  # fmt: skip
    got = {
        dpd: bucket_of_dpd(POLICY, dpd) for dpd in (-10, -4, -3, -1, 0, 1, 5, 6, 18, 19, 28, 29)
    }
    assert got == {
        -10: "current", -4: "current", -3: "pre_due", -1: "pre_due", 0: "pre_due", 1: "early",
        5: "early", 6: "mid", 18: "mid", 19: "late", 28: "late", 29: "final",
    }  # fmt: skip


async def test_a_day_a_change_and_a_late_payment_rewrites_what_it_touches(
    sessions, tmp_path
) -> None:
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", accounts=[("ACC-1", date(2026, 11, 20), 10_000, "USD")],
            timezone="America/New_York",
        )  # fmt: skip
        await add_debtor(
            s, "D-2", accounts=[("ACC-2", date(2026, 11, 20), 5_000, "USD")],
            timezone="Asia/Tokyo",
        )  # fmt: skip
    await record(sessions, at("2026-11-18"))
    await record(sessions, at("2026-11-18", 20))  # the same day again: nothing new
    await record(sessions, at("2026-11-22"))
    await record(sessions, at("2026-11-28"))
    assert await history(sessions, "ACC-1") == [
        ("pre_due", "2026-11-18", "2026-11-22", 10_000),
        ("early", "2026-11-22", "2026-11-28", 10_000),
        ("mid", "2026-11-28", None, 10_000),
    ]
    # 15:00 UTC is already the next day in Tokyo.
    assert await history(sessions, "ACC-2") == [
        ("pre_due", "2026-11-19", "2026-11-23", 5_000),
        ("early", "2026-11-23", "2026-11-29", 5_000),
        ("mid", "2026-11-29", None, 5_000),
    ]
    # Paid in part on the 21st and in full on the 25th (New York), recorded on the 28th.
    await pay(
        sessions, tmp_path,
        "P-1,ACC-1,40.00,2026-11-21T14:00:00-05:00\nP-2,ACC-1,60.00,2026-11-25T23:30:00-05:00\n",
        at("2026-11-28", 16),
    )  # fmt: skip
    assert await history(sessions, "ACC-1") == [
        ("pre_due", "2026-11-18", "2026-11-22", 10_000),
        ("early", "2026-11-22", "2026-11-25", 6_000),
        ("paid", "2026-11-25", None, 0),
    ]
    await record(sessions, at("2026-11-30"))
    assert (await history(sessions, "ACC-1"))[-1] == ("paid", "2026-11-25", None, 0)


async def test_a_change_later_the_same_day_is_that_days_bucket(sessions, tmp_path) -> None:
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-1", accounts=[("ACC-1", date(2026, 11, 20), 10_000, "USD")], timezone="UTC"
        )
    await record(sessions, at("2026-11-24", 9))
    await pay(
        sessions, tmp_path, "P-1,ACC-1,100.00,2026-11-24T10:00:00+00:00\n", at("2026-11-24", 10)
    )
    await record(sessions, at("2026-11-24", 11))
    assert await history(sessions, "ACC-1") == [("paid", "2026-11-24", None, 10_000)]

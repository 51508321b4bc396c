"""Each debtor's spells in the book: their accounts' owing stretches run together, rebuilt when
a recording or a late payment touches them, with the link steps the funnel counts."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime

from sqlalchemy import delete, select, text

from bot.db.models import Account, ChannelLink, Debtor, DebtorOwing, LinkToken
from bot.policy import load_policy
from bot.results.buckets import record_buckets
from bot.results.funnel import funnel
from bot.results.period import Period
from bot.services.payments import import_payments
from tests.helpers import add_debtor, write_csv

POLICY = load_policy()


def at(day: str, hour: int = 15) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


async def record(sessions, now: datetime) -> None:
    async with sessions.begin() as s:
        await record_buckets(s, POLICY, now)


async def spells(sessions) -> list[tuple]:
    async with sessions() as s:
        rows = await s.execute(
            select(DebtorOwing).join(Debtor).where(Debtor.debtor_ref == "D-1")
            .order_by(DebtorOwing.from_day)
        )  # fmt: skip
        return [
            (
                o.from_day.isoformat(),
                o.until_day and o.until_day.isoformat(),
                o.prev_until and o.prev_until.isoformat(),
                o.link_sent_at and o.link_sent_at.date().isoformat(),
                o.verified_at and o.verified_at.date().isoformat(),
            )
            for o in rows.scalars()
        ]


async def book(sessions, start: date, end: date) -> list[int]:
    async with sessions() as s:
        table, _ = await funnel(s, Period(start, end))
    return [row[1] for row in table.rows[:4]]  # book, sent a link, linked, verified


async def test_spells_run_accounts_together_and_count_each_debtor_once(sessions, tmp_path) -> None:
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", timezone="UTC", at=at("2026-11-01"),
            accounts=[("ACC-1", date(2026, 11, 20), 10_000, "USD"),
                      ("ACC-2", date(2026, 11, 25), 5_000, "USD")],
        )  # fmt: skip
        # Another debtor, never touched again: their spell stays as first built.
        await add_debtor(
            s, "D-2", timezone="UTC", at=at("2026-11-01"),
            accounts=[("ACC-9", date(2026, 11, 20), 1_000, "USD")],
        )  # fmt: skip
    await record(sessions, at("2026-11-18"))
    assert await spells(sessions) == [("2026-11-18", None, None, None, None)]

    # Sent a link and verified after the spell was built: the next recording picks them up,
    # though no account changed bucket.
    async with sessions.begin() as s:
        s.add(
            LinkToken(debtor_id=debtor.id, token_hash="a" * 64, created_at=at("2026-11-18", 16),
                      expires_at=at("2026-12-18"))
        )  # fmt: skip
        s.add(
            ChannelLink(debtor_id=debtor.id, channel="telegram", chat_id=7, user_id=7,
                        linked_at=at("2026-11-18", 17), verified_at=at("2026-11-19", 9),
                        failed_attempts=0)
        )  # fmt: skip
    await record(sessions, at("2026-11-19"))
    assert await spells(sessions) == [("2026-11-18", None, None, "2026-11-18", "2026-11-19")]

    # ACC-1 paid on the 23rd while ACC-2 still owes: still one spell. ACC-2 paid on the 26th,
    # recorded late (on the 28th): the spell ends that day.
    path = write_csv(
        tmp_path / "p.csv",
        "payment_ref,account_ref,amount,paid_at\nP-1,ACC-1,100.00,2026-11-23T09:00:00Z\n",
    )
    await import_payments(sessions, path, POLICY, clock=lambda: at("2026-11-23", 10))
    await record(sessions, at("2026-11-23"))
    assert [s[:3] for s in await spells(sessions)] == [("2026-11-18", None, None)]
    await record(sessions, at("2026-11-27"))
    path = write_csv(
        tmp_path / "p.csv",
        "payment_ref,account_ref,amount,paid_at\nP-2,ACC-2,50.00,2026-11-26T09:00:00Z\n",
    )
    await import_payments(sessions, path, POLICY, clock=lambda: at("2026-11-28", 10))
    assert [s[:3] for s in await spells(sessions)] == [("2026-11-18", "2026-11-26", None)]

    # A new account in December: a second spell, which knows where the first one ended.
    async with sessions.begin() as s:
        s.add(
            Account(account_ref="ACC-3", debtor_id=debtor.id, currency="USD",
                    amount_due_minor=3_000, due_date=date(2026, 12, 10), status="open",
                    late_fee_waived=False, created_at=at("2026-12-01"),
                    updated_at=at("2026-12-01"))
        )  # fmt: skip
    await record(sessions, at("2026-12-01"))
    assert await spells(sessions) == [
        ("2026-11-18", "2026-11-26", None, "2026-11-18", "2026-11-19"),
        ("2026-12-01", None, "2026-11-26", "2026-11-18", "2026-11-19"),
    ]

    # In the book: D-1 once over both spells, and not in the gap between them; D-2 throughout.
    assert await book(sessions, date(2026, 11, 20), date(2026, 12, 5)) == [2, 1, 1, 1]
    assert await book(sessions, date(2026, 11, 27), date(2026, 11, 30)) == [1, 0, 0, 0]
    assert await book(sessions, date(2026, 12, 1), date(2026, 12, 5)) == [2, 1, 1, 1]
    # Link steps count only what happened before the period's end.
    assert await book(sessions, date(2026, 11, 18), date(2026, 11, 18)) == [2, 1, 1, 0]

    # The migration that introduced spells builds the same rows from the same history.
    built = await _all_spells(sessions)
    migration = importlib.import_module(
        "bot.db.migrations.versions.2026_12_07_b7d2e4f6a1c9_debtors_spells_in_the_book"
    )
    async with sessions.begin() as s:
        await s.execute(delete(DebtorOwing))
        await s.execute(text(migration.spells_sql(s.bind.dialect.name)))
    assert await _all_spells(sessions) == built


async def _all_spells(sessions) -> list[tuple]:
    async with sessions() as s:
        rows = await s.execute(
            select(
                DebtorOwing.debtor_id, DebtorOwing.from_day, DebtorOwing.until_day,
                DebtorOwing.prev_until, DebtorOwing.link_sent_at, DebtorOwing.linked_at,
                DebtorOwing.verified_at,
            ).order_by(DebtorOwing.debtor_id, DebtorOwing.from_day)
        )  # fmt: skip
        return [tuple(r) for r in rows]

"""Importing payments: each recorded once, balances reduced, bad rows reported."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.accounts.csvfile import RowError
from bot.accounts.importer import import_accounts
from bot.db.base import utcnow
from bot.db.models import Account, Payment
from bot.policy import load_policy
from bot.services.payments import import_payments
from tests.helpers import ACCOUNT_HEADER, write_csv

PAYMENT_HEADER = "payment_ref,account_ref,amount,paid_at,currency\n"


async def _portfolio(sessions, tmp_path) -> None:
    rows = (
        "ACC-1,D-1,Alice Martin,+14155550132,en,America/Chicago,USD,500.00,2026-11-01,,\n"
        "ACC-2,D-2,王小明,+8613800138000,zh_CN,Asia/Shanghai,CNY,1000,2026-11-01,,\n"
        "ACC-3,D-3,Tanaka Yui,+819012345678,ja,Asia/Tokyo,JPY,9000,2026-11-01,,\n"
    )
    report = await import_accounts(
        sessions, write_csv(tmp_path / "a.csv", ACCOUNT_HEADER + rows), "US", clock=utcnow
    )
    assert report.errors == []


async def _balances(sessions) -> dict[str, tuple[int, str]]:
    async with sessions() as s:
        rows = await s.execute(
            select(Account.account_ref, Account.amount_due_minor, Account.status)
        )
        return {ref: (amount, status) for ref, amount, status in rows}


async def test_payments_reduce_balances_and_are_idempotent(sessions, tmp_path):
    await _portfolio(sessions, tmp_path)
    path = write_csv(
        tmp_path / "p.csv",
        PAYMENT_HEADER
        + "PAY-1,ACC-1,200.00,2026-11-20T10:15:00-06:00,USD\n"
        + "PAY-2,ACC-2,1000,2026-11-21T09:00:00+08:00,\n"
        + "PAY-3,ACC-3,1000,2026-11-22T12:00:00,JPY\n",
    )

    first = await import_payments(sessions, path, load_policy())
    second = await import_payments(sessions, path, load_policy())

    assert (first.created, first.unchanged, first.errors) == (3, 0, [])
    assert (second.created, second.unchanged, second.errors) == (0, 3, [])
    assert await _balances(sessions) == {
        "ACC-1": (30000, "open"),
        "ACC-2": (0, "paid"),
        "ACC-3": (8000, "open"),
    }
    async with sessions() as s:
        paid = {p.payment_ref: (p.amount_minor, p.currency, p.paid_at) for p in
                (await s.execute(select(Payment))).scalars()}  # fmt: skip
    assert paid == {
        "PAY-1": (20000, "USD", datetime(2026, 11, 20, 16, 15, tzinfo=UTC)),
        "PAY-2": (100000, "CNY", datetime(2026, 11, 21, 1, 0, tzinfo=UTC)),
        "PAY-3": (1000, "JPY", datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),
    }


async def test_bad_payment_rows_are_reported_and_good_ones_land(sessions, tmp_path):
    await _portfolio(sessions, tmp_path)
    path = write_csv(
        tmp_path / "p.csv",
        PAYMENT_HEADER
        + "PAY-1,ACC-404,10.00,2026-11-20T10:00:00Z,USD\n"
        + "PAY-2,ACC-1,10.00,2026-11-20T10:00:00Z,EUR\n"
        + "PAY-3,ACC-1,10.001,2026-11-20T10:00:00Z,\n"
        + "PAY-4,ACC-1,10.00,yesterday,\n"
        + "PAY-5,ACC-1,-3,2026-11-20T10:00:00Z,\n"
        + "PAY-6,ACC-1,50.00,2026-11-20T10:00:00Z,USD\n"
        + "PAY-6,ACC-1,60.00,2026-11-20T10:00:00Z,USD\n",
    )

    report = await import_payments(sessions, path, load_policy())

    assert report.errors == [
        RowError(2, "account_ref", "no account ACC-404"),
        RowError(3, "currency", "EUR but account ACC-1 is in USD"),
        RowError(4, "amount", "10.001 has more than 2 decimal places for USD"),
        RowError(5, "paid_at", "yesterday is not an ISO 8601 time like 2026-11-30T14:05:00+01:00"),
        RowError(6, "amount", "-3 must be greater than zero"),
        RowError(8, "payment_ref", "PAY-6 is already recorded with another account or amount"),
    ]
    assert report.created == 1
    assert (await _balances(sessions))["ACC-1"] == (45000, "open")


async def test_overpayment_leaves_nothing_owed(sessions, tmp_path):
    await _portfolio(sessions, tmp_path)
    path = write_csv(tmp_path / "p.csv", PAYMENT_HEADER + "PAY-1,ACC-1,600,2026-11-20,\n")

    report = await import_payments(sessions, path, load_policy())

    assert report.errors == []
    assert (await _balances(sessions))["ACC-1"] == (0, "paid")

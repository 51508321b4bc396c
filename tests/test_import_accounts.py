"""Importing a creditor's portfolio: what lands in the database and what is reported."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.accounts.csvfile import CsvFileError, RowError
from bot.accounts.importer import Book, import_accounts
from bot.db.base import utcnow
from bot.db.models import Account, Base, Debtor, DebtorPhone
from tests.helpers import ACCOUNT_HEADER, write_csv, written_times

PORTFOLIO = ACCOUNT_HEADER + (
    "ACC-1001,D-001,Alice Martin,+1 415 555 0132,en_US,America/Los_Angeles,USD,1234.50,"
    "2026-11-20,alice@example.com,Personal loan\r\n"
    "ACC-1002,D-001,Alice Martin,(415) 555-0132,en_US,America/Los_Angeles,USD,89.99,"
    "2026-11-25,alice@example.com,Credit card\r\n"
    "ACC-2001,D-002,王小明,+86 138 0013 8000,zh-CN,Asia/Shanghai,CNY,5600,2026-11-10,,\r\n"
    "ACC-2002,D-002,王小明,+86 139 0013 9000,zh_CN,Asia/Shanghai,CNY,0.01,2026-12-10,,Card\r\n"
    "ACC-3001,D-003,Priya Sharma,+91 98765 43210,en_IN,Asia/Kolkata,INR,15000.00,"
    "2026-12-01,priya@example.com,Utility bill\r\n"
    'ACC-4001,D-004,"O\'Brien, Sean",+1 (212) 555-0199,en,America/New_York,USD,310,'
    "2026-10-30,,Rent arrears\r\n"
    "ACC-5001,D-005,Tanaka Yui,+81 90-1234-5678,ja,Asia/Tokyo,JPY,45000,2026-11-01,,\r\n"
)


async def _accounts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple]:
    async with sessions() as s:
        rows = await s.execute(
            select(
                Account.account_ref,
                Debtor.debtor_ref,
                Account.currency,
                Account.amount_due_minor,
                Account.due_date,
                Account.product,
            ).join(Debtor)
        )
        return {r[0]: tuple(r[1:]) for r in rows}


async def _count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_realistic_portfolio_lands_with_debtors_sharing_accounts(sessions, tmp_path):
    path = write_csv(tmp_path / "portfolio.csv", PORTFOLIO)

    report = await import_accounts(sessions, path, region="US", clock=utcnow)

    assert (report.created, report.updated, report.errors) == (7, 0, [])
    assert await _accounts(sessions) == {
        "ACC-1001": ("D-001", "USD", 123450, date(2026, 11, 20), "Personal loan"),
        "ACC-1002": ("D-001", "USD", 8999, date(2026, 11, 25), "Credit card"),
        "ACC-2001": ("D-002", "CNY", 560000, date(2026, 11, 10), None),
        "ACC-2002": ("D-002", "CNY", 1, date(2026, 12, 10), "Card"),
        "ACC-3001": ("D-003", "INR", 1500000, date(2026, 12, 1), "Utility bill"),
        "ACC-4001": ("D-004", "USD", 31000, date(2026, 10, 30), "Rent arrears"),
        "ACC-5001": ("D-005", "JPY", 45000, date(2026, 11, 1), None),
    }
    async with sessions() as s:
        debtors = {
            d.debtor_ref: (d.full_name, d.locale, d.timezone, d.email)
            for d in (await s.execute(select(Debtor))).scalars()
        }
        phones = sorted(
            (await s.execute(select(Debtor.debtor_ref, DebtorPhone.phone_e164).join(Debtor))).all()
        )
    assert debtors["D-002"] == ("王小明", "zh_CN", "Asia/Shanghai", None)
    assert debtors["D-004"] == ("O'Brien, Sean", "en", "America/New_York", None)
    assert len(debtors) == 5
    assert phones == [
        ("D-001", "+14155550132"),
        ("D-002", "+8613800138000"),
        ("D-002", "+8613900139000"),
        ("D-003", "+919876543210"),
        ("D-004", "+12125550199"),
        ("D-005", "+819012345678"),
    ]


async def test_reimport_updates_amounts_without_duplicates(sessions, tmp_path):
    await import_accounts(
        sessions, write_csv(tmp_path / "a.csv", PORTFOLIO), region="US", clock=utcnow
    )
    changed = PORTFOLIO.replace("1234.50,2026-11-20", "1000.00,2026-11-20").replace(
        "CNY,5600,", "CNY,5300.25,"
    )

    report = await import_accounts(
        sessions, write_csv(tmp_path / "b.csv", changed), region="US", clock=utcnow
    )

    assert (report.created, report.updated, report.unchanged) == (0, 2, 5)
    accounts = await _accounts(sessions)
    assert accounts["ACC-1001"][2] == 100000
    assert accounts["ACC-2001"][2] == 530025
    assert await _count(sessions, Account) == 7
    assert await _count(sessions, Debtor) == 5
    assert await _count(sessions, DebtorPhone) == 6


async def _row_counts(sessions) -> dict[str, int]:
    async with sessions() as s:
        return {
            table.name: (await s.execute(select(func.count()).select_from(table))).scalar_one()
            for table in Base.metadata.sorted_tables
        }


@pytest.mark.parametrize("book", [Book(), Book(full=True)], ids=["upsert", "full"])
async def test_reimporting_an_unchanged_file_writes_nothing(sessions, tmp_path, book):
    path = write_csv(tmp_path / "a.csv", PORTFOLIO)
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    await import_accounts(sessions, path, region="US", clock=lambda: monday)
    counts = await _row_counts(sessions)
    async with sessions() as s:
        times = await written_times(s)

    report = await import_accounts(
        sessions, path, region="US", clock=lambda: monday + timedelta(days=1), book=book
    )

    assert (report.created, report.updated, report.unchanged, report.errors) == (0, 0, 7, [])
    assert (report.phones_added, report.phones_removed, report.withdrawn) == (0, 0, 0)
    assert await _row_counts(sessions) == counts
    async with sessions() as s:
        assert await written_times(s) == times  # every updated_at and created_at as it was
    assert set(times) >= {("account", "updated_at"), ("debtor", "updated_at")}


def _row(**overrides: str) -> str:
    fields = {
        "account_ref": "ACC-9001",
        "debtor_ref": "D-900",
        "full_name": "Maria Garcia",
        "phone": "+1 415 555 0101",
        "locale": "en",
        "timezone": "America/Chicago",
        "currency": "USD",
        "amount_due": "250.00",
        "due_date": "2026-11-15",
        "email": "",
        "product": "",
    }
    fields.update(overrides)
    return ",".join(fields.values()) + "\n"


@pytest.mark.parametrize(
    ("overrides", "column", "reason"),
    [
        ({"phone": "12345"}, "phone", "12345 is not a valid phone number for its country"),
        ({"phone": "call me"}, "phone", "call me is not a phone number"),
        ({"locale": "xx_YY"}, "locale", "xx_YY is not a locale Babel knows"),
        (
            {"timezone": "Mars/Olympus"},
            "timezone",
            "Mars/Olympus is not an IANA time zone like Asia/Shanghai",
        ),
        ({"currency": "XYZ"}, "currency", "XYZ is not an ISO 4217 currency code"),
        ({"amount_due": "-5.00"}, "amount_due", "-5.00 must be greater than zero"),
        ({"amount_due": "0"}, "amount_due", "0 must be greater than zero"),
        ({"amount_due": "12.345"}, "amount_due", "12.345 has more than 2 decimal places for USD"),
        (
            {"currency": "JPY", "amount_due": "100.5"},
            "amount_due",
            "100.5: JPY has no decimal places",
        ),
        ({"amount_due": "1,200"}, "amount_due", None),
        ({"due_date": "31/12/2026"}, "due_date", "31/12/2026 is not a date like 2026-12-31"),
        ({"due_date": "2026-02-30"}, "due_date", "2026-02-30 is not a date like 2026-12-31"),
        ({"full_name": ""}, "full_name", "is empty"),
        ({"account_ref": ""}, "account_ref", "is empty"),
        ({"email": "not-an-email"}, "email", "'not-an-email' is not an e-mail address"),
    ],
)
async def test_each_bad_row_is_reported_precisely_while_good_rows_land(
    sessions, tmp_path, overrides, column, reason
):
    good_before = _row(account_ref="ACC-0001", debtor_ref="D-001")
    good_after = _row(account_ref="ACC-0003", debtor_ref="D-003")
    bad = _row(**{"account_ref": "ACC-0002", "debtor_ref": "D-002", **overrides})
    if overrides.get("amount_due") == "1,200":
        bad = bad.replace("1,200", '"1,200"')
        reason = "1,200 is not a plain number like 1234.50"
    path = write_csv(tmp_path / "p.csv", ACCOUNT_HEADER + good_before + bad + good_after)

    report = await import_accounts(sessions, path, region="US", clock=utcnow)

    assert report.errors == [RowError(3, column, reason)]
    assert sorted(await _accounts(sessions)) == ["ACC-0001", "ACC-0003"]


async def test_a_row_with_several_problems_reports_each(sessions, tmp_path):
    bad = _row(phone="x", currency="ZZZ", due_date="tomorrow")
    path = write_csv(tmp_path / "p.csv", ACCOUNT_HEADER + bad)

    report = await import_accounts(sessions, path, region="US", clock=utcnow)

    assert [(e.line, e.column) for e in report.errors] == [
        (2, "phone"),
        (2, "currency"),
        (2, "due_date"),
    ]


async def test_local_phone_numbers_use_the_default_region(sessions, tmp_path):
    path = write_csv(tmp_path / "p.csv", ACCOUNT_HEADER + _row(phone="030 901820"))

    report = await import_accounts(sessions, path, region="DE", clock=utcnow)

    assert report.errors == []
    async with sessions() as s:
        assert (await s.execute(select(DebtorPhone.phone_e164))).scalar_one() == "+4930901820"


async def test_wrong_encoding_spoils_only_its_row(sessions, tmp_path):
    content = (
        ACCOUNT_HEADER.encode()
        + _row(account_ref="ACC-1").encode()
        + _row(account_ref="ACC-2", full_name="José Núñez").encode("latin-1")
        + _row(account_ref="ACC-3").encode()
    )
    path = write_csv(tmp_path / "p.csv", content)

    report = await import_accounts(sessions, path, region="US", clock=utcnow)

    assert report.errors == [
        RowError(3, None, "not valid UTF-8 (byte 0xE9 at position 16); the row was skipped")
    ]
    assert sorted(await _accounts(sessions)) == ["ACC-1", "ACC-3"]


async def test_utf8_bom_and_crlf_are_accepted(sessions, tmp_path):
    content = "\ufeff" + (ACCOUNT_HEADER + _row()).replace("\n", "\r\n")
    report = await import_accounts(
        sessions, write_csv(tmp_path / "p.csv", content), "US", clock=utcnow
    )
    assert (report.created, report.errors) == (1, [])


async def test_utf16_file_is_refused_whole(sessions, tmp_path):
    path = write_csv(tmp_path / "p.csv", ACCOUNT_HEADER + _row(), encoding="utf-16")
    with pytest.raises(CsvFileError, match="line 1: the file is UTF-16, not UTF-8"):
        await import_accounts(sessions, path, region="US", clock=utcnow)


async def test_missing_column_is_refused_whole(sessions, tmp_path):
    header = ACCOUNT_HEADER.replace("currency,", "")
    path = write_csv(tmp_path / "p.csv", header + _row().replace("USD,", ""))
    with pytest.raises(CsvFileError, match=r"^line 1: missing column\(s\): currency$"):
        await import_accounts(sessions, path, region="US", clock=utcnow)
    assert await _count(sessions, Account) == 0


async def test_row_with_missing_field_is_reported(sessions, tmp_path):
    short = _row().rsplit(",", 2)[0] + "\n"
    path = write_csv(tmp_path / "p.csv", ACCOUNT_HEADER + short + _row(account_ref="ACC-2"))

    report = await import_accounts(sessions, path, region="US", clock=utcnow)

    assert report.errors == [RowError(2, None, "has 9 fields but the header has 11")]
    assert list(await _accounts(sessions)) == ["ACC-2"]


async def test_empty_file_is_refused(sessions, tmp_path):
    with pytest.raises(CsvFileError, match="the file is empty"):
        await import_accounts(
            sessions, write_csv(tmp_path / "p.csv", ""), region="US", clock=utcnow
        )


async def test_header_only_imports_nothing_and_reports_nothing(sessions, tmp_path):
    report = await import_accounts(
        sessions, write_csv(tmp_path / "p.csv", ACCOUNT_HEADER), "US", clock=utcnow
    )
    assert (report.imported, report.errors) == (0, [])


async def test_same_account_twice_in_one_file_is_reported(sessions, tmp_path):
    path = write_csv(
        tmp_path / "p.csv",
        ACCOUNT_HEADER + _row() + _row(amount_due="1.00", phone="+1 415 555 0199") + "\n\n",
    )

    report = await import_accounts(sessions, path, region="US", clock=utcnow)

    assert report.errors == [RowError(3, "account_ref", "ACC-9001 already appears on line 2")]
    assert (await _accounts(sessions))["ACC-9001"][2] == 25000
    async with sessions() as s:  # nothing of the refused row lands, its phone neither
        phones = (await s.execute(select(DebtorPhone.phone_e164))).scalars().all()
    assert (phones, report.phones_added) == (["+14155550101"], 1)


async def test_quoted_newline_in_a_field_keeps_line_numbers_true(sessions, tmp_path):
    multi = _row(account_ref="ACC-1").replace("Maria Garcia", '"Maria\nGarcia"')
    path = write_csv(tmp_path / "p.csv", ACCOUNT_HEADER + multi + _row(phone="1"))

    report = await import_accounts(sessions, path, region="US", clock=utcnow)

    assert [(e.line, e.column) for e in report.errors] == [(4, "phone")]


async def test_rows_checked_in_worker_processes_land_as_in_one(
    sessions, engine, tmp_path, monkeypatch
):
    from bot.accounts import importer
    from bot.accounts.rows import AccountRow
    from bot.accounts.staging import COLUMNS
    from tests.conftest import empty_tables

    assert COLUMNS == AccountRow._fields  # a checked row goes into COPY as it is
    content = (
        PORTFOLIO
        + "ACC-6001,D-006,Lena Vogel,+49 30 123456,de,Europe/Berlin,EUR,99.00,2026-11-02,,"
        '"Loan\nsecond line"\r\n'
        + "ACC-6002,D-006,Lena Vogel,+49 30 123456,de,Europe/Berlin,EUR,-1,2026-11-02,,\r\n"
        + "ACC-1001,D-001,Alice Martin,+1 415 555 0132,en_US,America/Los_Angeles,USD,5.00,"
        "2026-11-20,,\r\n"
    ).encode() + b"ACC-6003,D-007,Bad \xff Byte,+1 415 555 0100,en,UTC,USD,1.00,2026-11-02,,\r\n"
    path = write_csv(tmp_path / "p.csv", content)
    one = await import_accounts(sessions, path, region="US", clock=utcnow, workers=0)
    landed = await _accounts(sessions)
    await empty_tables(engine)
    monkeypatch.setattr(importer, "STAGE_BATCH", 2)  # many chunks, some split by the pool

    many = await import_accounts(sessions, path, region="US", clock=utcnow, workers=2)

    assert (many.created, many.updated, many.unchanged) == (one.created, 0, 0) == (8, 0, 0)
    assert many.errors == one.errors
    assert [(e.line, e.column) for e in one.errors] == [
        (11, "amount_due"),
        (12, "account_ref"),
        (13, None),
    ]
    assert await _accounts(sessions) == landed
    assert landed["ACC-6001"][4] == "Loan\nsecond line"

"""Upserting portfolio and payment files into the database in batches, one transaction each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.accounts.csvfile import CsvRow, RowError, read_rows
from bot.accounts.rows import (
    ACCOUNT_COLUMNS,
    ACCOUNT_OPTIONAL,
    PAYMENT_COLUMNS,
    PAYMENT_OPTIONAL,
    AccountRow,
    PaymentRow,
    validate_account,
    validate_payment,
)
from bot.db.engine import dialect_insert
from bot.db.models import Account, AccountStatus, Debtor, DebtorPhone, Payment
from bot.money import MoneyError, to_minor

T = TypeVar("T")
# Told of the payment refs a transaction recorded and its instant, inside that transaction.
OnRecorded = Callable[[AsyncSession, list[str], datetime], Awaitable[None]]
BATCH = 2000
_ACCOUNT_UPDATES = (
    "debtor_id", "currency", "amount_due_minor", "due_date", "product", "status", "updated_at",
)  # fmt: skip


@dataclass
class ImportReport:
    """What an import did: counts and every row error, in file order."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Rows that landed (new, changed or already identical)."""
        return self.created + self.updated + self.unchanged


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _validated(
    rows: Iterable[CsvRow | RowError], validate: Callable[[CsvRow], T | list[RowError]],
    report: ImportReport,
) -> Iterator[T]:  # fmt: skip
    for row in rows:
        if isinstance(row, RowError):
            report.errors.append(row)
            continue
        result = validate(row)
        if isinstance(result, list):
            report.errors.extend(result)
        else:
            yield result


async def import_accounts(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    region: str,
    on_bytes: Callable[[int], object] | None = None,
    *,
    clock: Callable[[], datetime],
) -> ImportReport:
    """Upsert a portfolio file by ``account_ref``; debtors by ``debtor_ref``, phones added."""
    report = ImportReport()
    seen: dict[str, int] = {}

    def first_occurrence(row: CsvRow) -> AccountRow | list[RowError]:
        result = validate_account(row, region)
        if isinstance(result, AccountRow):
            if result.account_ref in seen:
                return [
                    RowError(
                        row.line,
                        "account_ref",
                        f"{result.account_ref} already appears on line {seen[result.account_ref]}",
                    )
                ]
            seen[result.account_ref] = row.line
        return result

    rows = read_rows(path, ACCOUNT_COLUMNS, ACCOUNT_OPTIONAL, on_bytes)
    for batch in _batches(_validated(rows, first_occurrence, report), BATCH):
        async with sessions.begin() as session:
            await _upsert_accounts(session, batch, report, clock())
    return report


async def _upsert_accounts(
    session: AsyncSession, batch: Sequence[AccountRow], report: ImportReport, now: datetime
) -> None:
    debtors = {row.debtor_ref: row for row in batch}  # the last row of a debtor wins
    stmt = dialect_insert(session, Debtor)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Debtor.debtor_ref],
            set_={
                name: stmt.excluded[name]
                for name in ("full_name", "email", "locale", "timezone", "updated_at")
            },
        ),
        [
            {
                "debtor_ref": r.debtor_ref,
                "full_name": r.full_name,
                "email": r.email,
                "locale": r.locale,
                "timezone": r.timezone,
                "created_at": now,
                "updated_at": now,
            }
            for r in debtors.values()
        ],
    )
    debtor_ids = dict(
        (
            await session.execute(
                select(Debtor.debtor_ref, Debtor.id).where(Debtor.debtor_ref.in_(debtors))
            )
        ).all()
    )
    phones = {(debtor_ids[r.debtor_ref], r.phone_e164) for r in batch}
    await session.execute(
        dialect_insert(session, DebtorPhone).on_conflict_do_nothing(),
        [{"debtor_id": d, "phone_e164": p, "created_at": now} for d, p in sorted(phones)],
    )
    existing = {
        ref: (debtor_id, currency, amount, due, product, status)
        for ref, debtor_id, currency, amount, due, product, status in (
            await session.execute(
                select(
                    Account.account_ref,
                    Account.debtor_id,
                    Account.currency,
                    Account.amount_due_minor,
                    Account.due_date,
                    Account.product,
                    Account.status,
                ).where(Account.account_ref.in_([r.account_ref for r in batch]))
            )
        ).all()
    }
    values = []
    for r in batch:
        new = (
            debtor_ids[r.debtor_ref], r.currency, r.amount_due_minor, r.due_date, r.product,
            AccountStatus.OPEN,
        )  # fmt: skip
        old = existing.get(r.account_ref)
        if old is None:
            report.created += 1
        elif old == new:
            report.unchanged += 1
            continue
        else:
            report.updated += 1
        values.append(
            {
                "account_ref": r.account_ref,
                "debtor_id": new[0],
                "currency": r.currency,
                "amount_due_minor": r.amount_due_minor,
                "due_date": r.due_date,
                "product": r.product,
                "status": AccountStatus.OPEN,
                "late_fee_waived": False,
                "created_at": now,
                "updated_at": now,
            }
        )
    if values:
        stmt = dialect_insert(session, Account)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Account.account_ref],
                set_={name: stmt.excluded[name] for name in _ACCOUNT_UPDATES},
            ),
            values,
        )


async def import_payments(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    on_recorded: OnRecorded,
    on_bytes: Callable[[int], object] | None = None,
    *,
    clock: Callable[[], datetime],
) -> ImportReport:
    """Record payments idempotently by ``payment_ref`` and reduce what each account owes;
    ``on_recorded`` hears of each batch's new payments in the batch's transaction."""
    report = ImportReport()
    rows = read_rows(path, PAYMENT_COLUMNS, PAYMENT_OPTIONAL, on_bytes)
    for batch in _batches(_validated(rows, validate_payment, report), 1000):
        async with sessions.begin() as session:
            now = clock()
            recorded = await _record_payments(session, batch, report, now)
            await on_recorded(session, recorded, now)
    report.errors.sort(key=lambda e: e.line)
    return report


async def _record_payments(
    session: AsyncSession, batch: Sequence[PaymentRow], report: ImportReport, now: datetime
) -> list[str]:
    accounts = {
        ref: (account_id, currency)
        for ref, account_id, currency in (
            await session.execute(
                select(Account.account_ref, Account.id, Account.currency).where(
                    Account.account_ref.in_({r.account_ref for r in batch})
                )
            )
        ).all()
    }
    recorded = {
        ref: (account_id, amount)
        for ref, account_id, amount in (
            await session.execute(
                select(Payment.payment_ref, Payment.account_id, Payment.amount_minor).where(
                    Payment.payment_ref.in_([r.payment_ref for r in batch])
                )
            )
        ).all()
    }
    new: dict[str, dict[str, Any]] = {}
    for r in batch:
        account = accounts.get(r.account_ref)
        if account is None:
            report.errors.append(RowError(r.line, "account_ref", f"no account {r.account_ref}"))
            continue
        account_id, currency = account
        if r.currency and r.currency != currency:
            report.errors.append(
                RowError(
                    r.line,
                    "currency",
                    f"{r.currency} but account {r.account_ref} is in {currency}",
                )
            )
            continue
        try:
            amount = to_minor(r.amount, currency)
        except MoneyError as exc:
            report.errors.append(RowError(r.line, "amount", str(exc)))
            continue
        earlier = recorded.get(r.payment_ref) or (
            (new[r.payment_ref]["account_id"], new[r.payment_ref]["amount_minor"])
            if r.payment_ref in new
            else None
        )
        if earlier is not None:
            if earlier == (account_id, amount):
                report.unchanged += 1
            else:
                report.errors.append(
                    RowError(
                        r.line,
                        "payment_ref",
                        f"{r.payment_ref} is already recorded with another account or amount",
                    )
                )
            continue
        new[r.payment_ref] = {
            "payment_ref": r.payment_ref,
            "account_id": account_id,
            "amount_minor": amount,
            "currency": currency,
            "paid_at": r.paid_at,
            "source": r.source,
        }
    recorded = await apply_payments(session, list(new.values()), now)
    report.created += len(recorded)
    return recorded


async def apply_payments(
    session: AsyncSession, payments: list[dict[str, Any]], now: datetime
) -> list[str]:
    """Insert payments not yet recorded and reduce their accounts' balances; return the new refs.

    ON CONFLICT DO NOTHING ... RETURNING makes a payment count once even when two imports or an
    import and the payments API race on the same reference.
    """
    if not payments:
        return []
    inserted = (
        (
            await session.execute(
                dialect_insert(session, Payment)
                .values([{**p, "created_at": now} for p in payments])
                .on_conflict_do_nothing(index_elements=[Payment.payment_ref])
                .returning(Payment.payment_ref)
            )
        )
        .scalars()
        .all()
    )
    by_ref = {p["payment_ref"]: p for p in payments}
    totals: dict[int, tuple[int, datetime]] = {}
    for ref in inserted:
        p = by_ref[ref]
        total, latest = totals.get(p["account_id"], (0, p["paid_at"]))
        totals[p["account_id"]] = (total + p["amount_minor"], max(latest, p["paid_at"]))
    for account_id, (total, latest) in sorted(totals.items()):
        remaining = Account.amount_due_minor - total
        await session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(
                amount_due_minor=case((remaining < 0, 0), else_=remaining),
                status=case((remaining <= 0, AccountStatus.PAID), else_=Account.status),
                paid_at=case((remaining <= 0, latest), else_=Account.paid_at),
                updated_at=now,
            )
        )
    return list(inserted)

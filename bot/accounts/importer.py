"""Upserting portfolio and payment files into the database.

A portfolio file is first copied, row by validated row, into temporary tables of the import's
own connection (PostgreSQL: COPY; SQLite: batched inserts); a big file is read and validated
in worker processes, a chunk of lines each, while this process copies. Duplicates, changes,
the accounts a full file leaves out and the phones it takes away are then found by set-based
statements, a chunk of the file per transaction, so a million rows cost a few statements per
chunk, a row that did not change is not written, and memory does not grow with the file.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.accounts import staging
from bot.accounts.csvfile import CsvRow, RowError, read_chunks, read_rows
from bot.accounts.rows import (
    ACCOUNT_COLUMNS,
    ACCOUNT_OPTIONAL,
    PAYMENT_COLUMNS,
    PAYMENT_OPTIONAL,
    CheckedRows,
    PaymentRow,
    check_chunk,
    validate_payment,
)
from bot.db.engine import dialect_insert
from bot.db.models import Account, AccountStatus, AuditEvent, Payment
from bot.money import MoneyError, to_minor

T = TypeVar("T")
# Told of the payment refs a transaction recorded and its instant, inside that transaction.
OnRecorded = Callable[[AsyncSession, list[str], datetime], Awaitable[None]]


@dataclass
class ImportReport:
    """What an import did: counts and every row error, in file order."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    phones_added: int = 0
    # With a full file or replaced phones:
    phones_removed: int = 0
    verify_again: int = 0  # chats whose verifying phone is no longer the debtor's
    withdrawn: int = 0
    held: str | None = None  # why nothing was withdrawn or removed though asked

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


class FullFileRefused(Exception):
    """A full file would withdraw more of the book than the limit; nothing was written."""

    def __init__(self, missing: int, book: int, limit: float) -> None:
        super().__init__(
            f"this full file leaves out {missing:,} of the {book:,} open accounts"
            f" ({missing / book:.0%}), more than the {limit:.0%} a full file may withdraw;"
            " nothing was imported. Check that the file is the whole book, or run again with"
            " --yes to withdraw them"
        )


@dataclass(frozen=True)
class Book:
    """How a portfolio file relates to what is loaded already."""

    # The file is the whole book: open accounts it leaves out are withdrawn.
    full: bool = False
    # Each debtor's phones become exactly the file's (always so with ``full``).
    replace_phones: bool = False
    # Withdraw even when that is more than ``max_withdrawn`` of the open book.
    confirmed: bool = False
    max_withdrawn: float = 0.2


# Told, inside the transaction that closed them, of each withdrawn (account id, debtor id, ref).
OnWithdrawn = Callable[[AsyncSession, list[tuple[int, int, str]], datetime], Awaitable[None]]
# Told of each (debtor id, phone) taken away; returns how many chats must verify again.
OnPhonesRemoved = Callable[[AsyncSession, list[tuple[int, str]], datetime], Awaitable[int]]
# Told of the stage ("reading", "saving") and the rows done in it so far.
OnProgress = Callable[[str, int], object]
STAGE_BATCH = 5000
PARALLEL_FROM_BYTES = 4_000_000  # about 40,000 rows
# Lines merged per transaction: SQLite holds its one write lock for a transaction, so its
# chunks stay short; PostgreSQL locks only the rows written, and each chunk costs a pass over
# the debtor table (100k new accounts: 2.2 s in one chunk, 2.5 s in two of 50,000).
MERGE_CHUNK = {"sqlite": 50_000, "postgresql": 250_000}


async def import_accounts(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    region: str,
    on_bytes: Callable[[int], object] | None = None,
    *,
    clock: Callable[[], datetime],
    book: Book = Book(),
    on_withdrawn: OnWithdrawn | None = None,
    on_phones_removed: OnPhonesRemoved | None = None,
    on_progress: OnProgress | None = None,
    workers: int | None = None,
) -> ImportReport:
    """Upsert a portfolio file by ``account_ref``, debtors by ``debtor_ref``; add the file's
    phones (or, with ``book.replace_phones`` or ``book.full``, make them the debtors' only
    ones); with ``book.full``, withdraw the open accounts the file leaves out. Rows are read
    and validated in ``workers`` other processes (by default, :func:`worker_count`'s)."""
    report = ImportReport()
    progress = on_progress or (lambda stage, rows: None)
    async with _connections(sessions.kw["bind"]) as (conn, phones_conn):
        workers = worker_count(path) if workers is None else workers
        unreadable = await _stage(
            conn, phones_conn, path, region, report, on_bytes, progress, workers
        )
        replace = book.replace_phones or book.full
        if unreadable and (book.full or replace):
            report.held = (
                f"{unreadable:,} row(s) could not be read at all, so no account was"
                " withdrawn and no phone removed; fix them and import the file again"
            )
        if book.full and not report.held:
            missing, open_book = await staging.left_out(conn)
            if missing and missing > book.max_withdrawn * open_book and not book.confirmed:
                raise FullFileRefused(missing, open_book, book.max_withdrawn)
        await conn.rollback()
        await _merge(conn, phones_conn, report, clock, progress)
        if replace and not report.held:
            async with phones_conn.begin():
                now = clock()
                removed = await staging.remove_other_phones(phones_conn)
                report.phones_removed = len(removed)
                if removed and on_phones_removed is not None:
                    report.verify_again = await _told(phones_conn, on_phones_removed, removed, now)
        if book.full and not report.held:
            async with conn.begin():
                now = clock()
                withdrawn = await staging.withdraw(conn, now)
                report.withdrawn = len(withdrawn)
                await _audit_withdrawn(conn, withdrawn, now)
                if withdrawn and on_withdrawn is not None:
                    await _told(conn, on_withdrawn, withdrawn, now)
    report.errors.sort(key=lambda e: e.line)
    return report


@asynccontextmanager
async def _connections(
    engine: AsyncEngine,
) -> AsyncIterator[tuple[AsyncConnection, AsyncConnection]]:
    """The import's connection, and the one its phones are merged on, each with its temporary
    tables: on PostgreSQL a second connection, so phones are merged while accounts are (a
    million accounts: 20 s for both instead of 30 s); SQLite writes through one connection at
    a time, so there it is the same one."""
    async with AsyncExitStack() as stack:
        conn = await stack.enter_async_context(engine.connect())
        phones_conn = conn
        if conn.dialect.name == "postgresql":
            phones_conn = await stack.enter_async_context(engine.connect())
        for each in [conn] if phones_conn is conn else [conn, phones_conn]:
            stack.push_async_callback(staging.finish, each)
            await staging.create(each)
            await each.commit()
        yield conn, phones_conn


async def _stage(
    conn: AsyncConnection, phones_conn: AsyncConnection, path: Path, region: str,
    report: ImportReport, on_bytes: Callable[[int], object] | None, progress: OnProgress,
    workers: int,
) -> int:  # fmt: skip
    """Copy the file's valid rows into the staging table (and their phones to the phones'
    connection); return how many rows could not be read at all. Each batch is its own
    transaction, so SQLite's write lock is free between."""
    unreadable = done = 0
    apart = phones_conn is not conn
    async with aclosing(_checked(path, region, on_bytes, workers)) as batches:
        async for checked in batches:
            report.errors.extend(checked.errors)
            unreadable += checked.unreadable
            async with conn.begin():
                await staging.load(conn, checked.valid)
                await staging.keep(conn, checked.named)
            if apart:
                async with phones_conn.begin():
                    await staging.load_phones(phones_conn, checked.valid)
                    await staging.keep(phones_conn, checked.named)
            done += checked.rows
            progress("reading", done)
    async with conn.begin():
        duplicates = await staging.duplicates(conn)
        for line, ref, first in duplicates:
            report.errors.append(
                RowError(line, "account_ref", f"{ref} already appears on line {first}")
            )
        await staging.index(conn)
    if apart:
        async with phones_conn.begin():
            await staging.forget_lines(phones_conn, [line for line, _, _ in duplicates])
            await staging.analyse(phones_conn, staging.STAGED, staging.KEPT)
    return unreadable


async def _checked(
    path: Path, region: str, on_bytes: Callable[[int], object] | None, workers: int
) -> AsyncIterator[CheckedRows]:
    """The file's rows checked, a chunk of lines at a time, in file order. With workers, other
    processes read and validate the chunks (validation is most of an import's processor time)
    while this one reads the next lines and copies checked rows into the database."""
    chunks = read_chunks(path, ACCOUNT_COLUMNS, ACCOUNT_OPTIONAL, on_bytes, lines=STAGE_BATCH)
    if not workers:
        for header, first, lines in chunks:
            yield check_chunk(header, first, lines, region)
        return
    loop = asyncio.get_running_loop()
    # spawn, not fork: this process runs an event loop and database threads.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        waiting: deque[asyncio.Future[CheckedRows]] = deque()
        try:
            for header, first, lines in chunks:
                waiting.append(
                    loop.run_in_executor(pool, check_chunk, header, first, lines, region)
                )
                if len(waiting) > 2 * workers:  # enough queued to keep every worker busy
                    yield await waiting.popleft()
            while waiting:
                yield await waiting.popleft()
        finally:
            for future in waiting:
                future.cancel()


def worker_count(path: Path) -> int:
    """Processes to check a portfolio file in: none for a small file (starting them costs more
    than they save) or on one processor, else one per processor this process may use, at
    most four."""
    try:
        processors = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        processors = os.cpu_count() or 1
    if processors < 2 or path.stat().st_size < PARALLEL_FROM_BYTES:
        return 0
    return min(processors, 4)


async def _merge(
    conn: AsyncConnection, phones_conn: AsyncConnection, report: ImportReport,
    clock: Callable[[], datetime], progress: OnProgress,
) -> None:  # fmt: skip
    """Debtors first (every account and phone needs its debtor), then accounts, a chunk of
    lines per transaction, and phones, at the same time when they have a connection of their
    own."""
    low, high = await staging.span(conn, staging.STAGED)
    await conn.rollback()
    chunk = MERGE_CHUNK[conn.dialect.name]
    for start in range(low, high, chunk):
        async with conn.begin():
            await staging.merge_debtors(conn, start, start + chunk, clock())

    async def accounts() -> None:
        for start in range(low, high, chunk):
            async with conn.begin():
                created, updated, unchanged = await staging.merge_accounts(
                    conn, start, start + chunk, clock()
                )
            report.created += created
            report.updated += updated
            report.unchanged += unchanged
            progress("saving", report.imported)

    async def phones() -> None:
        async with phones_conn.begin():
            await staging.gather_phones(phones_conn)
            report.phones_added = await staging.add_phones(phones_conn, clock())

    if phones_conn is conn:
        await accounts()
        await phones()
        return
    tasks = [asyncio.ensure_future(accounts()), asyncio.ensure_future(phones())]
    try:
        await asyncio.gather(*tasks)
    finally:  # one failed: stop the other before its connection is closed
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _told(
    conn: AsyncConnection, hook: Callable[..., Awaitable[T]], items: Any, now: datetime
) -> T:
    """Run a hook of a higher layer in the connection's open transaction, through a session."""
    session = AsyncSession(bind=conn, expire_on_commit=False)
    try:
        result = await hook(session, items, now)
        await session.flush()
        return result
    finally:
        await session.close()


async def _audit_withdrawn(
    conn: AsyncConnection, withdrawn: list[tuple[int, int, str]], now: datetime
) -> None:
    if withdrawn:
        await conn.execute(
            AuditEvent.__table__.insert(),
            [
                {
                    "debtor_id": debtor_id, "kind": "account_withdrawn", "actor": "import",
                    "detail": f"account {ref}: left out of a full portfolio file",
                    "created_at": now,
                }
                for _, debtor_id, ref in withdrawn
            ],
        )  # fmt: skip


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

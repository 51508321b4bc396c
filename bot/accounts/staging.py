"""The temporary tables a portfolio import fills, and the set-based statements that merge them.

Every table here is TEMPORARY: it lives only on the import's one connection, so two imports
never see each other's rows and nothing is left behind if the process dies. Statements are
written once for both databases with SQLAlchemy Core (``IS DISTINCT FROM`` becomes ``IS NOT``
on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.accounts.rows import AccountRow
from bot.db.base import UTCDateTime, in_slices
from bot.db.engine import insert_for
from bot.db.models import Account, AccountStatus, Debtor, DebtorPhone

_TEMP = MetaData()
# One row per valid line of the file, its columns in the order of AccountRow's fields.
STAGED = Table(
    "import_account", _TEMP,
    Column("line", Integer, primary_key=True),
    Column("account_ref", String(64)),
    Column("debtor_ref", String(64)),
    Column("full_name", String(200)),
    Column("phone_e164", String(16)),
    Column("locale", String(16)),
    Column("timezone", String(64)),
    Column("currency", String(3)),
    Column("amount_due_minor", BigInteger),
    Column("due_date", Date),
    Column("email", String(254)),
    Column("product", String(100)),
    prefixes=["TEMPORARY"],
)  # fmt: skip
COLUMNS = tuple(c.name for c in STAGED.columns)
# Each debtor once, from the last line that names them (the last row of a debtor wins).
DEBTORS = Table(
    "import_debtor", _TEMP,
    Column("line", Integer, primary_key=True),
    Column("debtor_ref", String(64)),
    Column("full_name", String(200)),
    Column("email", String(254)),
    Column("locale", String(16)),
    Column("timezone", String(64)),
    prefixes=["TEMPORARY"],
)  # fmt: skip
# Every phone the file gives each debtor.
PHONES = Table(
    "import_phone", _TEMP,
    Column("debtor_id", BigInteger),
    Column("phone_e164", String(16)),
    prefixes=["TEMPORARY"],
)  # fmt: skip
# Account refs of rows that could not be read or validated: a full file must not withdraw
# an account only because its row was malformed.
KEPT = Table(
    "import_kept", _TEMP,
    Column("account_ref", String(64)),
    Column("debtor_ref", String(64)),
    prefixes=["TEMPORARY"],
)  # fmt: skip


def _schema(conn: AsyncConnection) -> str:
    return "pg_temp" if conn.dialect.name == "postgresql" else "temp"


# PostgreSQL keeps a session's temporary tables in that session's own buffers, 8 MB unless
# told otherwise before the session first touches one; a million staged rows take about
# 300 MB. Hash joins over the book get more than the default 4 MB too, so they stay in memory.
# The import's connection is closed afterwards, not pooled, so no other work keeps these.
TEMP_BUFFERS, WORK_MEM = "256MB", "64MB"


async def create(conn: AsyncConnection) -> None:
    """Fresh, empty temporary tables on this connection."""
    if conn.dialect.name == "postgresql":
        try:
            async with conn.begin_nested():
                await conn.execute(text(f"SET temp_buffers = '{TEMP_BUFFERS}'"))
        except DBAPIError:
            pass  # this session has used temporary tables already: they stay in its 8 MB
        await conn.execute(text(f"SET work_mem = '{WORK_MEM}'"))
    await drop(conn)
    await conn.run_sync(lambda sync: _TEMP.create_all(sync, checkfirst=False))


async def finish(conn: AsyncConnection) -> None:
    """Drop the temporary tables; on PostgreSQL close the session rather than pool it."""
    if conn.in_transaction():
        await conn.rollback()
    await drop(conn)
    await conn.commit()
    if conn.dialect.name == "postgresql":
        await conn.invalidate()


async def drop(conn: AsyncConnection) -> None:
    """Drop the temporary tables (a pooled connection outlives the import)."""
    for table in _TEMP.sorted_tables:
        await conn.execute(text(f"DROP TABLE IF EXISTS {_schema(conn)}.{table.name}"))


_SQLITE_INSERT = (
    f"INSERT INTO {STAGED.name} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


async def load(conn: AsyncConnection, rows: Sequence[AccountRow]) -> None:
    """Append checked rows: COPY on PostgreSQL, one executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            STAGED.name, records=rows, columns=COLUMNS
        )
    else:
        # Straight to the driver: SQLAlchemy's per-row parameter handling costs more than
        # SQLite's insert. Dates are stored as SQLAlchemy stores them on SQLite, ISO text.
        raw = await conn.get_raw_connection()
        await raw.driver_connection.executemany(
            _SQLITE_INSERT, [(*r[:9], r[9].isoformat(), *r[10:]) for r in rows]
        )


async def load_phones(conn: AsyncConnection, rows: Sequence[AccountRow]) -> None:
    """Append only the line, debtor and phone of checked rows (PostgreSQL: for the phones'
    own connection)."""
    if rows:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            STAGED.name, records=[(r.line, r.debtor_ref, r.phone_e164) for r in rows],
            columns=("line", "debtor_ref", "phone_e164"),
        )  # fmt: skip


async def forget_lines(conn: AsyncConnection, lines: Sequence[int]) -> None:
    """Remove these lines from the staged rows."""
    for some in in_slices(lines):
        await conn.execute(delete(STAGED).where(STAGED.c.line.in_(some)))


async def keep(conn: AsyncConnection, refs: Sequence[tuple[str, str]]) -> None:
    """Remember the (account ref, debtor ref) of rows with errors: what they name is neither
    withdrawn nor stripped of phones."""
    if refs:
        await conn.execute(KEPT.insert(), [{"account_ref": a, "debtor_ref": d} for a, d in refs])


async def duplicates(conn: AsyncConnection) -> list[tuple[int, str, int]]:
    """Remove every later row of an account named twice; return (line, ref, first line)."""
    first = (
        select(STAGED.c.account_ref, func.min(STAGED.c.line).label("first"))
        .group_by(STAGED.c.account_ref)
        .having(func.count() > 1)
        .subquery()
    )
    found = (
        await conn.execute(
            select(STAGED.c.line, STAGED.c.account_ref, first.c.first)
            .join(first, first.c.account_ref == STAGED.c.account_ref)
            .where(STAGED.c.line > first.c.first)
            .order_by(STAGED.c.line)
        )
    ).all()
    await forget_lines(conn, [line for line, _, _ in found])
    return [tuple(row) for row in found]


async def index(conn: AsyncConnection) -> None:
    """Index the loaded rows and fill the per-debtor table; let PostgreSQL plan with counts
    (temporary tables are never analysed by autovacuum)."""
    await conn.execute(text(f"CREATE INDEX ix_import_account_ref ON {STAGED.name} (account_ref)"))
    await conn.execute(text(f"CREATE INDEX ix_import_kept_ref ON {KEPT.name} (account_ref)"))
    ranked = select(
        *(STAGED.c[c.name] for c in DEBTORS.columns),
        func.row_number()
        .over(partition_by=STAGED.c.debtor_ref, order_by=STAGED.c.line.desc())
        .label("rank"),
    ).subquery("ranked")
    await conn.execute(
        DEBTORS.insert().from_select(
            [c.name for c in DEBTORS.columns],
            select(*(ranked.c[c.name] for c in DEBTORS.columns)).where(ranked.c.rank == 1),
        )
    )
    await analyse(conn, STAGED, DEBTORS, KEPT)


async def analyse(conn: AsyncConnection, *tables: Table) -> None:
    """Fresh planner statistics for temporary tables (autovacuum never analyses them), on
    PostgreSQL, whose plans depend on them."""
    if conn.dialect.name == "postgresql":
        for table in tables:
            await conn.execute(text(f"ANALYZE {table.name}"))


async def span(conn: AsyncConnection, table: Table) -> tuple[int, int]:
    """The first and one past the last line in ``table`` (0, 0 when empty)."""
    low, high = (await conn.execute(select(func.min(table.c.line), func.max(table.c.line)))).one()
    return (0, 0) if low is None else (low, high + 1)


def _stamp(now: datetime) -> Any:
    return literal(now, UTCDateTime())


_DEBTOR_FIELDS = ("full_name", "email", "locale", "timezone")


async def merge_debtors(conn: AsyncConnection, low: int, high: int, now: datetime) -> None:
    """Insert new debtors and update changed ones among lines [low, high); unchanged debtors
    are not written."""
    stmt = insert_for(conn.dialect.name)(Debtor).from_select(
        ["debtor_ref", *_DEBTOR_FIELDS, "created_at", "updated_at"],
        select(
            DEBTORS.c.debtor_ref, *(DEBTORS.c[f] for f in _DEBTOR_FIELDS), _stamp(now), _stamp(now)
        ).where(DEBTORS.c.line >= low, DEBTORS.c.line < high),
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[Debtor.debtor_ref],
            set_={f: stmt.excluded[f] for f in (*_DEBTOR_FIELDS, "updated_at")},
            where=or_(
                *(Debtor.__table__.c[f].is_distinct_from(stmt.excluded[f]) for f in _DEBTOR_FIELDS)
            ),
        )
    )


async def gather_phones(conn: AsyncConnection) -> None:
    """Each debtor's phones as the file gives them, by debtor id."""
    await conn.execute(
        PHONES.insert().from_select(
            ["debtor_id", "phone_e164"],
            select(Debtor.id, STAGED.c.phone_e164)
            .distinct()
            .join(Debtor, Debtor.debtor_ref == STAGED.c.debtor_ref),
        )
    )
    await conn.execute(
        text(f"CREATE INDEX ix_import_phone ON {PHONES.name} (debtor_id, phone_e164)")
    )
    await analyse(conn, PHONES)


async def add_phones(conn: AsyncConnection, now: datetime) -> int:
    """Give debtors the file's phones they do not have yet; return how many."""
    known = exists().where(
        DebtorPhone.debtor_id == PHONES.c.debtor_id, DebtorPhone.phone_e164 == PHONES.c.phone_e164
    )
    result = await conn.execute(
        insert_for(conn.dialect.name)(DebtorPhone)
        .from_select(
            ["debtor_id", "phone_e164", "created_at"],
            select(PHONES.c.debtor_id, PHONES.c.phone_e164, _stamp(now)).where(~known),
        )
        .on_conflict_do_nothing()
    )
    return max(result.rowcount, 0)


async def remove_other_phones(conn: AsyncConnection) -> list[tuple[int, str]]:
    """Take from every debtor in the file each phone the file does not give them; return the
    (debtor id, phone) pairs taken."""
    given = exists().where(
        PHONES.c.debtor_id == DebtorPhone.debtor_id, PHONES.c.phone_e164 == DebtorPhone.phone_e164
    )
    removed = await conn.execute(
        delete(DebtorPhone)
        .where(
            DebtorPhone.debtor_id.in_(select(PHONES.c.debtor_id)),
            DebtorPhone.debtor_id.not_in(
                select(Debtor.id).join(KEPT, KEPT.c.debtor_ref == Debtor.debtor_ref)
            ),
            ~given,
        )
        .returning(DebtorPhone.debtor_id, DebtorPhone.phone_e164)
    )
    return sorted((debtor_id, phone) for debtor_id, phone in removed)


def _chunk(low: int, high: int) -> Any:
    return (
        select()
        .select_from(STAGED)
        .join(Debtor, Debtor.debtor_ref == STAGED.c.debtor_ref)
        .outerjoin(Account, Account.account_ref == STAGED.c.account_ref)
        .where(STAGED.c.line >= low, STAGED.c.line < high)
    )


async def merge_accounts(
    conn: AsyncConnection, low: int, high: int, now: datetime
) -> tuple[int, int, int]:
    """Insert new accounts and update changed ones among lines [low, high); return how many
    were created, updated and left unchanged (unchanged rows are not written)."""
    changed = or_(
        Account.id.is_(None),
        Account.debtor_id != Debtor.id,
        Account.currency != STAGED.c.currency,
        Account.amount_due_minor != STAGED.c.amount_due_minor,
        Account.due_date != STAGED.c.due_date,
        Account.product.is_distinct_from(STAGED.c.product),
        Account.status != AccountStatus.OPEN,
    )
    fields = ("debtor_id", "currency", "amount_due_minor", "due_date", "product")
    stmt = insert_for(conn.dialect.name)(Account).from_select(
        ["account_ref", *fields, "status", "late_fee_waived", "created_at", "updated_at"],
        _chunk(low, high)
        .with_only_columns(
            STAGED.c.account_ref, Debtor.id, STAGED.c.currency, STAGED.c.amount_due_minor,
            STAGED.c.due_date, STAGED.c.product, literal(AccountStatus.OPEN.value),
            literal(False), _stamp(now), _stamp(now),
        )
        .where(changed),
    )  # fmt: skip
    # A row reopened by the file (paid, or withdrawn earlier) is open again. A row this
    # statement inserted carries this chunk's instant as created_at; an updated one does not
    # (duplicates are gone, so no account is written twice in one import).
    written = await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[Account.account_ref],
            set_={
                **{f: stmt.excluded[f] for f in (*fields, "status", "updated_at")},
                "closed_reason": None,
                "closed_at": None,
            },
        ).returning(Account.created_at == _stamp(now))
    )
    flags = written.scalars().all()
    created = sum(1 for inserted in flags if inserted)
    lines = (
        await conn.execute(select(func.count()).where(STAGED.c.line >= low, STAGED.c.line < high))
    ).scalar_one()
    return created, len(flags) - created, lines - len(flags)


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


def _left_out() -> Any:
    """Open accounts a full file does not name (a malformed row still names its account)."""
    return and_(
        Account.status == AccountStatus.OPEN,
        ~exists().where(STAGED.c.account_ref == Account.account_ref),
        ~exists().where(KEPT.c.account_ref == Account.account_ref),
    )


async def left_out(conn: AsyncConnection) -> tuple[int, int]:
    """How many open accounts a full file would withdraw, and how many are open now."""
    missing, book = (
        await conn.execute(
            select(func.coalesce(func.sum(_flag(_left_out())), 0), func.count()).where(
                Account.status == AccountStatus.OPEN
            )
        )
    ).one()
    return int(missing), int(book)


async def withdraw(conn: AsyncConnection, now: datetime) -> list[tuple[int, int, str]]:
    """Close every open account the file leaves out, reason ``withdrawn``; return each one's
    (account id, debtor id, ref)."""
    closed = await conn.execute(
        update(Account)
        .where(_left_out())
        .values(
            status=AccountStatus.CLOSED, closed_reason="withdrawn", closed_at=now, updated_at=now
        )
        .returning(Account.id, Account.debtor_id, Account.account_ref)
    )
    return sorted(tuple(row) for row in closed)

"""Small helpers for tests: files written byte for byte, realistic portfolio rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select

ACCOUNT_HEADER = (
    "account_ref,debtor_ref,full_name,phone,locale,timezone,currency,amount_due,due_date,"
    "email,product\n"
)

# Timestamp columns that hold data (a due instant, an expiry, when a payment was made), not the
# instant a row was written: they may be any time.
DATA_TIMES = frozenset(
    {
        ("account", "paid_at"),
        ("link_token", "expires_at"),
        ("payment", "paid_at"),
        ("reminder_outbox", "not_before"),
    }
)


def write_csv(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write a CSV file exactly as given (no newline translation)."""
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


async def add_debtor(
    session,
    ref: str,
    *,
    accounts: list[tuple[str, object, int, str]],
    timezone: str = "America/New_York",
    locale: str = "en_US",
    chat_id: int | None = None,
    verified: bool = True,
    phone: str = "+14155550100",
    name: str = "Test Debtor",
    at: datetime | None = None,
):
    """Insert a debtor with accounts ``(account_ref, due_date, amount_minor, currency)`` and,
    when ``chat_id`` is given, a Telegram link (verified unless told otherwise); every row is
    stamped ``at`` (default: now)."""
    from bot.db.base import utcnow
    from bot.db.models import Account, ChannelLink, Debtor, DebtorPhone

    at = at or utcnow()
    debtor = Debtor(
        debtor_ref=ref, full_name=name, locale=locale, timezone=timezone, created_at=at,
        updated_at=at,
    )  # fmt: skip
    debtor.phones.append(DebtorPhone(phone_e164=phone, created_at=at))
    session.add(debtor)
    await session.flush()
    for account_ref, due, amount, currency in accounts:
        session.add(
            Account(
                account_ref=account_ref, debtor_id=debtor.id, currency=currency,
                amount_due_minor=amount, due_date=due, status="open", late_fee_waived=False,
                created_at=at, updated_at=at,
            )
        )  # fmt: skip
    if chat_id is not None:
        session.add(
            ChannelLink(
                debtor_id=debtor.id, channel="telegram", chat_id=chat_id, user_id=chat_id,
                linked_at=at, failed_attempts=0, verified_at=at if verified else None,
                verify_method="contact" if verified else None,
            )
        )  # fmt: skip
    await session.flush()
    return debtor


async def written_times(session) -> dict[tuple[str, str], set[datetime]]:
    """Every instant in a timestamp column of any table, by ``(table, column)``, leaving out
    columns that hold only NULL and those in ``DATA_TIMES``."""
    from bot.db.base import UTCDateTime
    from bot.db.models import Base

    found = {}
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if (
                isinstance(column.type, UTCDateTime)
                and (table.name, column.name) not in DATA_TIMES
            ):
                values = await session.execute(select(column).where(column.is_not(None)))
                if instants := set(values.scalars()):
                    found[(table.name, column.name)] = instants
    return found


async def add_staff(
    sessions,
    username: str,
    role: str,
    password: str = "correct horse battery",
    name: str | None = None,
    now: datetime | None = None,
) -> int:
    """Add a console agent or admin the way ``nudgebot staff add`` does (argon2id hash, audited),
    committed; their id."""
    from bot.db.base import utcnow
    from bot.staff.accounts import create_staff

    async with sessions.begin() as s:
        staff = await create_staff(
            s, username, password, role, now=now or utcnow(), actor="test", display_name=name
        )
        return staff.id

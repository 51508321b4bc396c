"""Loading a portfolio file and what follows from it.

Accounts load the file; promises end the agreements of withdrawn accounts and linking makes a
chat verify again when the phone it verified with is taken away. This service joins them in the
import's transactions, so the accounts domain knows neither.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.accounts import importer
from bot.accounts.importer import Book, ImportReport, OnProgress
from bot.db.base import utcnow
from bot.linking.reverify import verify_again
from bot.policy import Policy
from bot.promises.withdrawal import end_withdrawn


async def import_portfolio(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    region: str,
    policy: Policy,
    link_ttl: timedelta,
    book: Book | None = None,
    on_bytes: Callable[[int], object] | None = None,
    on_progress: OnProgress | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> ImportReport:
    """A portfolio file, upserted; with ``book.full`` the accounts it leaves out withdrawn and
    their agreements ended; with replaced phones, chats resting on a removed phone unverified."""

    async def withdrawn(session: AsyncSession, rows: list[tuple[int, int, str]], now: datetime):
        await end_withdrawn(session, policy, rows, now)

    async def phones_removed(session: AsyncSession, rows: list[tuple[int, str]], now: datetime):
        return await verify_again(session, rows, now, ttl=link_ttl)

    return await importer.import_accounts(
        sessions, path, region, on_bytes, clock=clock, book=book or Book(),
        on_withdrawn=withdrawn,
        on_phones_removed=phones_removed, on_progress=on_progress,
    )  # fmt: skip

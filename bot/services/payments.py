"""Recording payments and what follows from them, for every way a payment arrives.

Accounts record payments; promises and plans react to them. This service joins the two in one
transaction, so neither domain needs to know of the other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.accounts import importer
from bot.accounts.importer import ImportReport, apply_payments
from bot.db.base import utcnow
from bot.policy import Policy
from bot.promises.events import payments_recorded
from bot.results.buckets import correct_for_payments


async def import_payments(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    policy: Policy,
    on_bytes: Callable[[int], object] | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> ImportReport:
    """A payments file, recorded once per ``payment_ref``; promises and plans judged at once."""

    async def settle(session: AsyncSession, refs: list[str], now: datetime) -> None:
        await payments_recorded(session, refs, policy=policy, at=now)
        await correct_for_payments(session, refs, now)

    return await importer.import_payments(sessions, path, settle, on_bytes, clock=clock)


async def record_payments(
    session: AsyncSession, payments: list[dict[str, Any]], policy: Policy, now: datetime
) -> list[str]:
    """Payments not yet recorded, recorded in the caller's transaction, with what follows."""
    refs = await apply_payments(session, payments, now)
    await payments_recorded(session, refs, policy=policy, at=now)
    await correct_for_payments(session, refs, now)
    return refs

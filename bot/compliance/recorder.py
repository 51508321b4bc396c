"""Recording messages we send, with group commit.

Every message sent is recorded before ``record`` returns, as before; but rows that arrive while
a write is in progress wait for it and then go together in one ``INSERT`` and one commit. A bot
answering many chats at once thus pays one transaction per batch instead of one per message,
and a bot answering one chat pays exactly what it did.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import retrying
from bot.db.models import ContactLog

# Rows written in one statement at most; more wait for the next.
BATCH = 500


class OutboundRecorder:
    """Appends outbound rows to the contact log, batching those that arrive together."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._pending: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, row: dict[str, Any]) -> int:
        """Write one contact-log row (as ``records.outbound_row`` builds it); its id."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # The write goes on even if the caller is cancelled: the message has been sent.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                ids = await retrying(self.sessions, lambda s, batch=batch: self._write(s, batch))
            except Exception as exc:  # every waiter hears of the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), log_id in zip(batch, ids, strict=True):
                    if not future.done():
                        future.set_result(log_id)

    @staticmethod
    async def _write(s: AsyncSession, batch: list[tuple[dict[str, Any], Any]]) -> list[int]:
        table = ContactLog.__table__  # a plain INSERT, without the ORM's bulk machinery
        inserted = await s.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            [row for row, _ in batch],
        )
        return list(inserted.scalars())

"""Recording messages we send, with group commit.

Every message sent is recorded before ``record`` (a new row) or ``settle`` (a reply stored
before sending) returns; but what arrives while a write is in progress waits for it and then
goes together in one ``INSERT``, one ``UPDATE`` and one commit. A bot answering many chats at
once thus pays one transaction per batch instead of one per message, and a bot answering one
chat pays exactly what it did.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import retrying
from bot.db.models import ContactLog

# Rows written in one statement at most; more wait for the next.
BATCH = 500


# A row to insert, or the id of a stored row and what to set on it.
Write = tuple[dict[str, Any], int | None]


class OutboundRecorder:
    """Writes outbound rows to the contact log, batching those that arrive together."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._pending: list[tuple[Write, asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, row: dict[str, Any]) -> int:
        """Write one contact-log row (as ``records.outbound_row`` builds it); its id."""
        return await self._enqueue((row, None))

    async def settle(self, log_id: int, values: dict[str, Any]) -> int:
        """Set what became of a stored reply (as ``records.outcome_of`` says); its id."""
        return await self._enqueue((values, log_id))

    async def _enqueue(self, write: Write) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # The write goes on even if the caller is cancelled: the message has been sent.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            writes = [write for write, _ in batch]
            try:
                ids = await retrying(self.sessions, lambda s, w=writes: self._write(s, w))
            except Exception as exc:  # every waiter hears of the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), log_id in zip(batch, ids, strict=True):
                    if not future.done():
                        future.set_result(log_id)

    @staticmethod
    async def _write(s: AsyncSession, writes: list[Write]) -> list[int]:
        # Plain statements on the table, without the ORM's bulk machinery.
        table = ContactLog.__table__
        rows = [row for row, log_id in writes if log_id is None]
        settled = [{"log_id": log_id, **row} for row, log_id in writes if log_id is not None]
        new_ids = iter([])
        if rows:
            inserted = await s.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
            )
            new_ids = iter(list(inserted.scalars()))
        if settled:
            await s.execute(update(table).where(table.c.id == bindparam("log_id")), settled)
        return [next(new_ids) if log_id is None else log_id for _, log_id in writes]

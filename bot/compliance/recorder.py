"""Recording messages we send, with group commit.

Every message sent is recorded before ``record`` (a new row) or ``settle`` (a reply stored
before sending) returns; but what arrives while a write is in progress waits for it and then
goes together in one ``INSERT``, one ``UPDATE`` and one commit. A bot answering many chats at
once thus pays one transaction per batch instead of one per message, and a bot answering one
chat pays exactly what it did.

A hook given at construction runs inside each batch's transaction with what it wrote (the new
rows, and the settled replies asked to be announced), so that whatever must be written with
them (the agent console's events) commits together with them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.batch import GroupCommit
from bot.db.models import ContactLog

# A row to insert, or the id of a stored row and what to set on it; and whether to announce it.
Write = tuple[dict[str, Any], int | None, bool]
# (id, row) of every row inserted, (id, values) of every settled reply to announce.
Written = list[tuple[int, dict[str, Any]]]
Hook = Callable[[AsyncSession, Written, Written], Awaitable[None]]


class OutboundRecorder:
    """Writes outbound rows to the contact log, batching those that arrive together."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], on_write: Hook | None = None
    ) -> None:
        self.sessions = sessions
        self.on_write = on_write
        # The write goes on even if the caller is cancelled: the message has been sent.
        self._writes: GroupCommit[Write, int] = GroupCommit(sessions, self._write)

    async def record(self, row: dict[str, Any]) -> int:
        """Write one contact-log row (as ``records.outbound_row`` builds it); its id."""
        return await self._writes.submit((row, None, False))

    async def settle(self, log_id: int, values: dict[str, Any], *, announce: bool = False) -> int:
        """Set what became of a stored reply (as ``records.outcome_of`` says); its id.
        ``announce`` hands it to the hook (consoles watch it)."""
        return await self._writes.submit((values, log_id, announce))

    async def _write(self, s: AsyncSession, writes: list[Write]) -> list[int]:
        # Plain statements on the table, without the ORM's bulk machinery.
        table = ContactLog.__table__
        rows = [row for row, log_id, _ in writes if log_id is None]
        settled = [{"log_id": log_id, **row} for row, log_id, _ in writes if log_id is not None]
        new_ids: list[int] = []
        if rows:
            inserted = await s.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
            )
            new_ids = list(inserted.scalars())
        if settled:
            await s.execute(update(table).where(table.c.id == bindparam("log_id")), settled)
        if self.on_write is not None:
            announced = [(log_id, row) for row, log_id, say in writes if say and log_id]
            if new_ids or announced:
                await self.on_write(s, list(zip(new_ids, rows, strict=True)), announced)
        ids = iter(new_ids)
        return [next(ids) if log_id is None else log_id for _, log_id, _ in writes]

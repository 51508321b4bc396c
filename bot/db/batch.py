"""Group commit: writes that arrive while one transaction is being written wait for it, then
go together in the next, so many callers share one commit instead of paying one each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import retrying

T = TypeVar("T")
R = TypeVar("R")

# Items written in one transaction at most; more wait for the next.
BATCH = 500


class GroupCommit(Generic[T, R]):
    """``submit`` an item; ``write`` turns a batch of items into one result each, inside one
    transaction (run again once if the connection was lost, so it must be safe to repeat)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        write: Callable[[AsyncSession, list[T]], Awaitable[list[R]]],
    ) -> None:
        self.sessions = sessions
        self.write = write
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is waiting; its result. The write goes on even if
        the caller is cancelled."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            items = [item for item, _ in batch]
            try:
                results = await retrying(self.sessions, lambda s, i=items: self.write(s, i))
            except Exception as exc:  # every waiter hears of the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)

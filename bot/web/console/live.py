"""Live consoles: console events from the database to every open page, over one WebSocket each.

One :class:`Feed` per process reads new ``console_event`` rows by id while any page is
connected and hands them to every socket of the process, so a change committed by any process
reaches every console. A page says which event it saw last when it (re)connects and gets
everything after it before anything new, so a reconnect never hides a message.

Ids are handed out when a transaction inserts, not when it commits: on PostgreSQL a transaction
may commit event 7 after another committed event 8. The feed remembers such gaps and keeps asking
for them for a while; each event it sends carries ``safe``, the id below which nothing can still
appear, and that is what a page asks to resume from (it drops ids it already has).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import ConsoleEvent

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05
# A gap still empty after this long was a transaction that rolled back.
GAP_SECONDS = 30.0
BATCH = 500
# How far below the newest event a starting feed looks for ids still in flight.
START_GAPS = 200
# A page that cannot keep up is disconnected (it resumes from its last safe id).
BACKLOG = 2000
# How often an open page's session is looked at again.
SESSION_CHECK_SECONDS = 60.0


def as_message(event: ConsoleEvent, safe: int) -> dict[str, Any]:
    """What a page receives for one event."""
    return {
        "id": event.id,
        "kind": event.kind,
        "ticket_id": event.ticket_id,
        "debtor_id": event.debtor_id,
        "data": event.data,
        "safe": safe,
    }


class Feed:
    """The process's reader of console events, shared by all its sockets."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll: float = POLL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions, self.poll, self.monotonic = sessions, poll, monotonic
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.last = 0  # the highest id seen
        self.gaps: dict[int, float] = {}  # ids below ``last`` not seen yet, since when
        self._task: asyncio.Task[None] | None = None
        self._started = False

    @property
    def safe(self) -> int:
        """Every event with an id up to this one has been seen (or never will be)."""
        return min(self.gaps) - 1 if self.gaps else self.last

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue receiving every event from now on; starts reading if it was idle."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(BACKLOG)
        self.subscribers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="console-feed")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop sending to ``queue``; reading stops with the last subscriber."""
        self.subscribers.discard(queue)

    async def stop(self) -> None:
        """Stop reading (the application is shutting down)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def start_from(self) -> None:
        """Begin at the newest event (pages fetch what came before themselves), minding the
        ids just below it that transactions in flight may still commit."""
        async with self.sessions() as s:
            self.last = await s.scalar(select(func.coalesce(func.max(ConsoleEvent.id), 0))) or 0
            recent = set(
                await s.scalars(
                    select(ConsoleEvent.id).where(ConsoleEvent.id > self.last - START_GAPS)
                )
            )
        now = self.monotonic()
        self.gaps = {
            i: now for i in range(max(1, self.last - START_GAPS + 1), self.last) if i not in recent
        }
        self._started = True

    async def read_once(self) -> list[ConsoleEvent]:
        """Read what committed since the last read, remembering and filling gaps."""
        async with self.sessions() as s:
            wanted = ConsoleEvent.id > self.last
            if self.gaps:
                wanted = or_(wanted, ConsoleEvent.id.in_(list(self.gaps)))
            rows = list(
                await s.scalars(
                    select(ConsoleEvent).where(wanted).order_by(ConsoleEvent.id).limit(BATCH)
                )
            )
        now = self.monotonic()
        for row in rows:
            if row.id > self.last:
                for missing in range(self.last + 1, row.id):
                    self.gaps[missing] = now
                self.last = row.id
            self.gaps.pop(row.id, None)
        for gap, since in list(self.gaps.items()):
            if now - since > GAP_SECONDS:
                del self.gaps[gap]
        return rows

    async def _run(self) -> None:
        if not self._started:
            await self.start_from()
        while self.subscribers:
            try:
                rows = await self.read_once()
            except Exception:
                log.warning("console events could not be read; trying again", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            safe = self.safe
            for row in rows:
                message = as_message(row, safe)
                for queue in list(self.subscribers):
                    try:
                        queue.put_nowait(message)
                    except asyncio.QueueFull:
                        # The socket notices it was dropped and closes; the page resumes.
                        self.subscribers.discard(queue)
            if len(rows) < BATCH:
                await asyncio.sleep(self.poll)
        # Nobody listens: the next subscriber starts again from the newest event.
        self._started = False


async def catch_up(
    sessions: async_sessionmaker[AsyncSession], after: int, safe: int
) -> list[dict[str, Any]]:
    """Every committed event after ``after``, for a page that (re)connects."""
    out: list[dict[str, Any]] = []
    async with sessions() as s:
        while True:
            rows = list(
                await s.scalars(
                    select(ConsoleEvent)
                    .where(ConsoleEvent.id > after)
                    .order_by(ConsoleEvent.id)
                    .limit(BATCH)
                )
            )
            out += [as_message(r, min(safe, r.id)) for r in rows]
            if len(rows) < BATCH:
                return out
            after = rows[-1].id


async def socket(
    request: web.Request, feed: Feed, *, signed_in: Callable[[], Awaitable[bool]]
) -> web.WebSocketResponse:
    """One page's live events: first everything after the page's ``after``, then each new one,
    for as long as ``signed_in`` says the page's session lasts (asked every minute)."""
    try:
        after = max(0, int(request.query.get("after", "0")))
    except ValueError:
        after = 0
    ws = web.WebSocketResponse(heartbeat=25.0)
    await ws.prepare(request)
    queue = feed.subscribe()
    sent: set[int] = set()

    async def pump() -> None:
        if after > 0:
            for message in await catch_up(feed.sessions, after, feed.safe):
                sent.add(message["id"])
                await ws.send_str(json.dumps(message))
        await ws.send_str(json.dumps({"kind": "hello", "safe": after}))
        while queue in feed.subscribers:  # a page that fell too far behind reconnects
            message = await queue.get()
            if message["id"] not in sent:
                await ws.send_str(json.dumps(message))

    async def watch() -> None:
        while await asyncio.sleep(SESSION_CHECK_SECONDS, True) and await signed_in():
            pass
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"signed out")

    tasks = [asyncio.create_task(job) for job in (pump(), watch(), _drain(ws))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        feed.unsubscribe(queue)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ws.close()
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the page sends, until it goes away."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            break

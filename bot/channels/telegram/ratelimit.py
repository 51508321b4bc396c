"""A rate limiter for python-telegram-bot that keeps the bot under Telegram's limits itself.

Messages are spaced at least ``1 / per_chat_rate`` apart in each chat and ``1 / global_rate``
apart overall, so the bot does not rely on 429s to slow down. A 429 that comes anyway pauses
every send for its ``retry_after`` and the same request is tried again: a 429 means Telegram
did not deliver it, so retrying never doubles a message.

Where the next free slots are kept is the ``Pace``: in memory (:class:`LocalPace`) for one
process, or in PostgreSQL (:class:`SharedPace`) so that every process sending for the bot
keeps to the bot's limits together, and a 429 any of them gets pauses them all.

A stored message's hand-over (bot.channel.Handover) is begun here, after the wait and right
before the request: that is the moment the message becomes "being sent".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.channel import Handover, Withdrawn

log = logging.getLogger(__name__)

# Methods that put something in front of a person; everything else goes straight through.
_LIMITED_PREFIXES = ("send", "edit", "copy", "forward")
# A message handed over this long after its slot takes a new one (seconds).
LATE_AFTER = 0.5
# Taking the buttons off an answered message shows nothing new: it keeps to the bot's overall
# rate but does not hold back the chat's next message.
_NOT_PACED_IN_CHAT = frozenset({"editMessageReplyMarkup"})


class Pace(Protocol):
    """Where sending slots are reserved. Every instant is ``time.monotonic()``'s."""

    async def chat_slot(self, chat_id: int | str) -> float:
        """Reserve this chat's next slot; the instant it starts."""
        ...

    async def global_slot(self) -> float:
        """Reserve the bot's next slot overall (after any pause); the instant it starts."""
        ...

    async def pause(self, seconds: float) -> None:
        """Telegram asked the bot to wait: no slot starts sooner than ``seconds`` from now."""
        ...

    async def close(self) -> None:
        """Release what it holds."""
        ...


class LocalPace:
    """Slots kept in this process's memory: right when one process sends for the bot."""

    def __init__(self, global_rate: float, per_chat_rate: float) -> None:
        self.global_interval = 1.0 / global_rate
        self.chat_interval = 1.0 / per_chat_rate
        self._global_next = 0.0
        self._chat_next: dict[int | str, float] = {}
        self._paused_until = 0.0

    async def chat_slot(self, chat_id: int | str) -> float:
        """This chat's next slot, one interval after its last."""
        now = time.monotonic()
        slot = max(now, self._chat_next.get(chat_id, 0.0), self._paused_until)
        self._chat_next[chat_id] = slot + self.chat_interval
        if len(self._chat_next) > 10_000:
            for idle in [c for c, t in self._chat_next.items() if t < now]:
                del self._chat_next[idle]
        return slot

    async def global_slot(self) -> float:
        """The bot's next slot, one interval after the last one reserved."""
        # Reserved before sleeping: a late wake-up must not push every later slot back, or the
        # achieved rate drifts below the limit on a busy event loop.
        slot = max(time.monotonic(), self._global_next, self._paused_until)
        self._global_next = slot + self.global_interval
        return slot

    async def pause(self, seconds: float) -> None:
        """Hold every slot back until the pause is over."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def close(self) -> None:
        """Nothing to release."""


# The next slot of a chat, and of the bot, reserved in one statement each. Instants are the
# database server's seconds since the epoch; the answer is how far ahead the slot is, which
# this process turns into its own monotonic clock, so the processes' clocks never meet.
_CHAT_SLOTS = text(
    "WITH t AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)"
    " INSERT INTO chat_pace (channel, chat_id, next_at)"
    " SELECT :channel, c, t.now + CAST(:gap AS float8)"
    " FROM unnest(CAST(:chats AS bigint[])) AS c, t"
    " ON CONFLICT (channel, chat_id) DO UPDATE"
    " SET next_at = greatest(chat_pace.next_at, excluded.next_at - :gap) + :gap"
    " RETURNING chat_id, next_at - :gap - (SELECT now FROM t)"
)
_GLOBAL_SLOTS = text(
    "WITH t AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)"
    " UPDATE send_pace SET next_at = greatest(next_at, paused_until, t.now)"
    " + CAST(:span AS float8)"
    " FROM t WHERE channel = :channel"
    " RETURNING next_at - :span - t.now"
)
_PAUSE = text(
    "UPDATE send_pace SET paused_until = greatest(paused_until,"
    " extract(epoch FROM clock_timestamp())::float8 + CAST(:seconds AS float8))"
    " WHERE channel = :channel"
)
_ENSURE = text(
    "INSERT INTO send_pace (channel, next_at, paused_until) VALUES (:channel, 0, 0)"
    " ON CONFLICT (channel) DO NOTHING"
)
_FORGET_IDLE = text(
    "DELETE FROM chat_pace WHERE channel = :channel"
    " AND next_at < extract(epoch FROM clock_timestamp())::float8 - 60"
)
# A block of the bot's slots reserved at once covers at most this long, so a pause another
# process writes is seen within it.
BLOCK_SECONDS = 0.05
FORGET_EVERY = 10_000
# How long a reservation keeps trying the database before this process keeps to the limits
# alone (seconds).
PATIENCE = 5.0


class SharedPace:
    """Slots kept in PostgreSQL, shared by every process sending for the bot.

    Slots are reserved on a connection kept for it, in autocommit. The chats' slots asked
    for at the same moment are one ``INSERT … ON CONFLICT`` (rows of chats idle for a minute
    are removed now and then). The bot's slots are reserved in blocks of as many as are waiting
    here, up to ``BLOCK_SECONDS`` worth (one at 30/s, 50 at 1,000/s), so the cost per message
    falls as the rate rises. If the database cannot be reached, this process keeps to the
    limits alone until it can (and says so once).
    """

    def __init__(
        self, engine: AsyncEngine, global_rate: float, per_chat_rate: float, channel: str
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.global_interval = 1.0 / global_rate
        self.chat_interval = 1.0 / per_chat_rate
        self.block = max(1, int(global_rate * BLOCK_SECONDS))
        self.local = LocalPace(global_rate, per_chat_rate)
        self._slots: deque[float] = deque()
        self._reserving: asyncio.Future[None] | None = None
        self._waiting = 0
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._chat_reservations = 0
        self._chats_waiting: list[tuple[int, asyncio.Future[float]]] = []
        self._chats_writer: asyncio.Task[None] | None = None
        self._degraded = False

    async def _run(self, statement: Any, **params: Any) -> Any:
        """Run one statement; on a failure, on a new connection again, for up to
        ``PATIENCE`` seconds (the first statement after a restart of the server meets the old
        connection; a server restarting is back in a few). Sending without the shared limits
        would let every process send at the bot's whole rate."""
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                result = await self._once(statement, params)
            except Exception:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.25)
                continue
            if self._degraded:
                self._degraded = False
                log.warning("sending limits are shared through the database again")
            return result

    async def _once(self, statement: Any, params: dict[str, Any]) -> Any:
        # One connection kept for this, in autocommit: a statement is one round trip (a pooled
        # connection with its own transaction costs two more, and the pool's reset).
        async with self._lock:
            if self._conn is None:
                conn = await self.engine.connect()
                try:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(_ENSURE, {"channel": self.channel})
                except BaseException:
                    await _discard(conn)
                    raise
                self._conn = conn
            try:
                done = await self._conn.execute(statement, {"channel": self.channel, **params})
            except BaseException:
                conn, self._conn = self._conn, None
                await _discard(conn)
                raise
            return done.all() if done.returns_rows else None

    async def close(self) -> None:
        """Give back the connection."""
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await _discard(conn)

    def _alone(self, exc: Exception) -> None:
        if not self._degraded:
            self._degraded = True
            log.warning(
                "cannot use the database for the shared sending limits (%s);"
                " keeping to them in this process alone until it answers",
                type(exc).__name__,
            )

    async def chat_slot(self, chat_id: int | str) -> float:
        """This chat's next slot, as every process sees it (reserved with the others that are
        waiting here at the same moment, in one statement)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._chats_waiting.append((int(chat_id), future))
        if self._chats_writer is None or self._chats_writer.done():
            self._chats_writer = asyncio.create_task(self._reserve_chats())
        try:
            ahead = await future
        except Exception as exc:
            self._alone(exc)
            return await self.local.chat_slot(chat_id)
        self._chat_reservations += 1
        if self._chat_reservations % FORGET_EVERY == 0:
            try:
                await self._run(_FORGET_IDLE)
            except Exception as exc:
                self._alone(exc)
        return time.monotonic() + max(0.0, ahead)

    async def _reserve_chats(self) -> None:
        while self._chats_waiting:
            # A chat twice in one statement would be updated twice: its second waits a turn.
            batch: dict[int, asyncio.Future[float]] = {}
            later: list[tuple[int, asyncio.Future[float]]] = []
            for chat_id, future in self._chats_waiting:
                if chat_id in batch:
                    later.append((chat_id, future))
                else:
                    batch[chat_id] = future
            self._chats_waiting = later
            try:
                rows = await self._run(_CHAT_SLOTS, chats=list(batch), gap=self.chat_interval)
            except Exception as exc:
                for future in batch.values():
                    if not future.done():
                        future.set_exception(exc)
            else:
                for chat_id, ahead in rows:
                    if not batch[chat_id].done():
                        batch[chat_id].set_result(ahead)

    async def global_slot(self) -> float:
        """The bot's next slot, from this process's block or a new one."""
        self._waiting += 1
        try:
            while not self._slots:
                if self._reserving is None:
                    self._reserving = asyncio.ensure_future(self._reserve())
                reserving = self._reserving
                await asyncio.shield(reserving)
            return self._slots.popleft()
        finally:
            self._waiting -= 1

    async def _reserve(self) -> None:
        n = min(self._waiting, self.block) or 1
        try:
            ((ahead,),) = await self._run(_GLOBAL_SLOTS, span=n * self.global_interval)
        except Exception as exc:
            self._alone(exc)
            self._slots.append(await self.local.global_slot())
        else:
            first = time.monotonic() + max(0.0, ahead)
            self._slots.extend(first + i * self.global_interval for i in range(n))
        finally:
            self._reserving = None

    async def pause(self, seconds: float) -> None:
        """Pause every process: slots already handed out here are dropped."""
        self._slots.clear()
        await self.local.pause(seconds)
        try:
            await self._run(_PAUSE, seconds=seconds)
        except Exception as exc:
            self._alone(exc)


class ChatRateLimiter(BaseRateLimiter[Handover]):
    """Per-chat and global spacing of sends, plus honouring ``retry_after``."""

    def __init__(
        self,
        global_rate: float = 30.0,
        per_chat_rate: float = 1.0,
        max_retries: int = 5,
        *,
        pace: Pace | None = None,
    ) -> None:
        self.pace = pace or LocalPace(global_rate, per_chat_rate)
        self.max_retries = max_retries
        self.retry_after_count = 0
        # Called on every 429 (the process's metrics count them).
        self.on_retry_after: Callable[[], None] | None = None
        self._paused_until = 0.0

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Release the pace's connection, if it has one."""
        await self.pace.close()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Handover | None,
    ) -> Any:
        """Wait for this chat's and the bot's next free slot, hand the message over, send,
        and retry after a 429."""
        limited = endpoint.startswith(_LIMITED_PREFIXES)
        chat_id = None if endpoint in _NOT_PACED_IN_CHAT else data.get("chat_id")
        for attempt in range(self.max_retries + 1):
            slot = await self._wait_turn(chat_id) if limited else None
            if rate_limit_args is not None:
                if not await rate_limit_args.begin():
                    raise Withdrawn("another process took this message over")
                if slot is not None and time.monotonic() - slot > LATE_AFTER:
                    # The hand-over's commit was held up (the database stalled or restarted):
                    # every message waiting on it would now go at once. Take a new slot.
                    await _sleep_until(await self.pace.global_slot())
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.retry_after_count += 1
                if self.on_retry_after is not None:
                    self.on_retry_after()
                delay = exc.retry_after
                seconds = (
                    delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)
                )
                if attempt == self.max_retries:
                    raise
                log.warning("Telegram asked to wait %.1fs before %s", seconds, endpoint)
                self._paused_until = max(self._paused_until, time.monotonic() + seconds)
                await self.pace.pause(seconds)
                if rate_limit_args is not None:
                    await rate_limit_args.undo()
        raise AssertionError("unreachable")

    async def _wait_turn(self, chat_id: int | str | None) -> float:
        """Wait for the chat's slot and then the bot's; the instant the bot's began."""
        if chat_id is not None:
            await _sleep_until(await self.pace.chat_slot(chat_id))
        slot = await self.pace.global_slot()
        await _sleep_until(slot)
        # A pause this process heard of while it slept: take a slot after it (they are spaced
        # out; waking everyone at its end would be a burst).
        while time.monotonic() < self._paused_until:
            slot = await self.pace.global_slot()
            await _sleep_until(slot)
        return slot


async def _discard(conn: AsyncConnection) -> None:
    """Close a connection that may be broken, without a word if it is."""
    try:
        await conn.invalidate()
    except Exception:
        pass
    try:
        await conn.close()
    except Exception:
        pass


async def _sleep_until(instant: float) -> None:
    wait = instant - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)


def limiter_for(engine: AsyncEngine, global_rate: float, per_chat_rate: float) -> ChatRateLimiter:
    """The limiter for a process on this database: shared through PostgreSQL, or in memory on
    SQLite (which one process uses at a time)."""
    if engine.dialect.name == "postgresql":
        return ChatRateLimiter(
            pace=SharedPace(engine, global_rate, per_chat_rate, channel="telegram")
        )
    return ChatRateLimiter(global_rate, per_chat_rate)

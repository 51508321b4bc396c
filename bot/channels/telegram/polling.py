"""Long polling that confirms updates to Telegram only once their turns are committed.

python-telegram-bot's ``Updater`` confirms a batch of updates when it fetches the next one, so
updates fetched but not yet handled are lost when the process dies. Here each batch is handled
first (the chats side by side, each chat's updates in order) and only then confirmed by asking
for the next. After a crash Telegram delivers the unconfirmed updates again; those already
handled are on record in the contact log and skipped (see ``bot/conversation/pipeline.py``).

A batch waits for its turns to commit, not for the replies to be sent: a chat whose replies are
spaced out by Telegram's limits does not hold back the next batch of every other chat.

Each update is read on its own. One that python-telegram-bot cannot read (a Bot API change it
does not know yet) is skipped with only its id in the log: it must neither stop polling nor
come back forever, and what a person wrote never goes to the log (python-telegram-bot's own
``get_updates`` would log the whole batch).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import defaultdict
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.channels.telegram.handlers import read_update
from bot.channels.telegram.transport import READ_TIMEOUT

log = logging.getLogger(__name__)

# Chats of one batch handled side by side; one chat's updates still run in order.
CONCURRENT_UPDATES = 64
# Waits between failed polls grow from the first to the last.
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
# getUpdates is called through do_api_request to get the raw updates, on purpose.
warnings.filterwarnings("ignore", "Please use 'Bot.getUpdates'", PTBUserWarning)


def _seconds(period: float | timedelta) -> float:
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


class Poller:
    """Fetch, handle, then confirm; one batch at a time."""

    def __init__(
        self, application: Application, *, timeout: int, concurrency: int = CONCURRENT_UPDATES
    ) -> None:
        self.application = application
        self.timeout = timeout
        self.slots = asyncio.Semaphore(concurrency)
        self.offset: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._handling = False
        self._replying: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start polling in the background."""
        self._task = asyncio.create_task(self._run(), name="telegram-poller")

    async def stop(self) -> None:
        """Stop polling: a long poll in progress is abandoned (what it fetched is not confirmed,
        so Telegram keeps it), a batch in hand is finished and confirmed, replies are sent."""
        task, self._task = self._task, None
        if task is None:
            return
        if not self._handling:
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await self._confirm()
        # Replies still being sent are finished.
        await asyncio.gather(*self._replying)

    async def _run(self) -> None:
        failures = 0
        while self._task is not None:
            try:
                raw = await self._get_updates(self.timeout)
            except InvalidToken:
                log.error("Telegram refused the bot token; polling stops")
                return
            except TelegramError as exc:
                # Network errors, 5xx, and Conflict: a webhook is set or another process polls
                # with this token.
                wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
                if isinstance(exc, RetryAfter):
                    wait = _seconds(exc.retry_after)
                failures += 1
                log.warning("polling Telegram failed (%s); again in %.0f s", exc, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            if raw:
                self._handling = True
                try:
                    await self._handle(self._read(raw))
                finally:
                    self._handling = False
                self.offset = max(item["update_id"] for item in raw) + 1

    async def _get_updates(self, wait: int, limit: int | None = None) -> list[dict[str, Any]]:
        """The updates after the offset as Telegram sent them, which also confirms those
        before it."""
        asked: dict[str, Any] = {"timeout": wait, "allowed_updates": Update.ALL_TYPES}
        if self.offset is not None:
            asked["offset"] = self.offset
        if limit is not None:
            asked["limit"] = limit
        raw = await self.application.bot.do_api_request(
            "getUpdates", api_kwargs=asked, read_timeout=READ_TIMEOUT + wait
        )
        return raw if isinstance(raw, list) else []

    def _read(self, raw: list[dict[str, Any]]) -> list[Update]:
        read = (read_update(item, self.application.bot) for item in raw)
        return [update for update in read if update is not None]

    async def _handle(self, updates: list[Update]) -> None:
        by_chat: defaultdict[object, list[Update]] = defaultdict(list)
        for update in updates:
            chat = update.effective_chat
            by_chat[chat.id if chat else ("update", update.update_id)].append(update)
        await asyncio.gather(*(self._in_order(queue) for queue in by_chat.values()))

    async def _in_order(self, queue: list[Update]) -> None:
        turns, loop = self.application.bot_data["services"].turns, asyncio.get_running_loop()
        async with self.slots:
            for update in queue:
                # Handler errors go to the application's error handler, never up to here.
                handling = asyncio.create_task(self.application.process_update(update))
                self._replying.add(handling)
                handling.add_done_callback(self._replying.discard)
                committed = turns[update.update_id] = loop.create_future()
                try:
                    await asyncio.wait({handling, committed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    del turns[update.update_id]

    async def _confirm(self) -> None:
        """Tell Telegram that everything handled so far is done with."""
        if self.offset is None:
            return
        try:
            await self._get_updates(0, limit=1)
        except Exception as exc:  # the next start confirms them instead
            log.warning("could not confirm handled updates to Telegram: %s", exc)

"""A rate limiter for python-telegram-bot that keeps the bot under Telegram's limits itself.

Messages are spaced at least ``1 / per_chat_rate`` apart in each chat and ``1 / global_rate``
apart overall, so the bot does not rely on 429s to slow down. A 429 that comes anyway pauses
every send for its ``retry_after`` and the same request is tried again: a 429 means Telegram
did not deliver it, so retrying never doubles a message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

# Methods that put something in front of a person; everything else goes straight through.
_LIMITED_PREFIXES = ("send", "edit", "copy", "forward")
# Taking the buttons off an answered message shows nothing new: it keeps to the bot's overall
# rate but does not hold back the chat's next message.
_NOT_PACED_IN_CHAT = frozenset({"editMessageReplyMarkup"})


class ChatRateLimiter(BaseRateLimiter[int]):
    """Per-chat and global spacing of sends, plus honouring ``retry_after``."""

    def __init__(
        self, global_rate: float = 30.0, per_chat_rate: float = 1.0, max_retries: int = 5
    ) -> None:
        self.global_interval = 1.0 / global_rate
        self.chat_interval = 1.0 / per_chat_rate
        self.max_retries = max_retries
        self._global_next = 0.0
        self._chat_next: dict[int | str, float] = {}
        self._paused_until = 0.0
        self.retry_after_count = 0

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        """Wait for this chat's and the bot's next free slot, send, and retry after a 429."""
        limited = endpoint.startswith(_LIMITED_PREFIXES)
        chat_id = None if endpoint in _NOT_PACED_IN_CHAT else data.get("chat_id")
        for attempt in range(self.max_retries + 1):
            if limited:
                await self._wait_turn(chat_id)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.retry_after_count += 1
                delay = exc.retry_after
                seconds = (
                    delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)
                )
                if attempt == self.max_retries:
                    raise
                log.warning("Telegram asked to wait %.1fs before %s", seconds, endpoint)
                self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        raise AssertionError("unreachable")

    async def _wait_turn(self, chat_id: int | str | None) -> None:
        now = time.monotonic()
        if chat_id is not None:
            slot = max(now, self._chat_next.get(chat_id, 0.0), self._paused_until)
            self._chat_next[chat_id] = slot + self.chat_interval
            if slot > now:
                await asyncio.sleep(slot - now)
            if len(self._chat_next) > 10_000:
                self._forget_idle_chats()
        # Reserve the next global slot and only then sleep: a late wake-up must not push every
        # later slot back, or the achieved rate drifts below the limit on a busy event loop.
        now = time.monotonic()
        slot = max(now, self._global_next, self._paused_until)
        self._global_next = slot + self.global_interval
        if slot > now:
            await asyncio.sleep(slot - now)

    def _forget_idle_chats(self) -> None:
        now = time.monotonic()
        for chat_id in [c for c, t in self._chat_next.items() if t < now]:
            del self._chat_next[chat_id]

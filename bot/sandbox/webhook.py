"""Webhook delivery as Telegram does it: POST each pending update, retrying until it is accepted.

Like Telegram's Bot API server, up to ``max_connections`` updates (setWebhook, default 40) are
in flight at once, but only one per queue: a chat's messages form one queue and a user's
button presses another, so a chat's next message is posted only once its previous one was
accepted, while other chats, and the same chat's button presses, go side by side. A refused
update waits and is tried again, holding back its own queue only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Hashable
from typing import Any

import aiohttp

from bot.sandbox.state import BotState

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_MAX_CONNECTIONS = 40
# Updates keyed by who acted rather than by chat, as Telegram's Bot API server keys them.
_BY_USER = frozenset({"callback_query", "inline_query", "chosen_inline_result", "chat_member"})


def queue_of(update: dict[str, Any]) -> Hashable:
    """The delivery queue of an update: its updates are posted one at a time, in order."""
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        if kind in _BY_USER and "from" in payload:
            return (kind, payload["from"]["id"])
        if "chat" in payload:
            # Every kind of message of a chat shares one queue; membership changes have theirs.
            return (
                "my_chat_member" if kind == "my_chat_member" else "message",
                payload["chat"]["id"],
            )
    return ("update", update["update_id"])


class WebhookDelivery:
    """One delivery task per bot with a webhook; updates leave the queue only on a 2xx."""

    def __init__(
        self,
        clock: Callable[[], float],
        retry_delay: float,
        max_retry_delay: float,
        timeout: float,
    ) -> None:
        self.clock = clock
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.timeout = timeout
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.session: aiohttp.ClientSession | None = None

    def ensure(self, bot: BotState) -> None:
        """Start delivering for a bot unless a task already runs."""
        task = self.tasks.get(bot.token)
        if task is None or task.done():
            self.tasks[bot.token] = asyncio.create_task(self._run(bot))

    async def stop(self, bot: BotState) -> None:
        """Stop delivering for a bot; updates in flight stay pending."""
        task = self.tasks.pop(bot.token, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        """Stop every delivery task and close the HTTP session."""
        for token in list(self.tasks):
            task = self.tasks.pop(token)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _run(self, bot: BotState) -> None:
        loop = asyncio.get_running_loop()
        posting: dict[int, asyncio.Task[str | None]] = {}
        retry_at: dict[int, float] = {}
        delays: dict[int, float] = {}
        try:
            while bot.webhook is not None:
                changed = bot.changed
                wake_at = self._start_due(bot, posting, retry_at, loop.time())
                waiter = asyncio.ensure_future(changed.wait())
                timeout = None if wake_at is None else max(0.0, wake_at - loop.time())
                await asyncio.wait(
                    {waiter, *posting.values()},
                    timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                for update_id, task in list(posting.items()):
                    if task.done():
                        del posting[update_id]
                        self._settle(bot, update_id, task.result(), retry_at, delays, loop.time())
        finally:
            for task in posting.values():
                task.cancel()
            await asyncio.gather(*posting.values(), return_exceptions=True)

    def _start_due(
        self,
        bot: BotState,
        posting: dict[int, asyncio.Task[str | None]],
        retry_at: dict[int, float],
        now: float,
    ) -> float | None:
        """Post the first pending update of every idle queue; return when a retry falls due."""
        hook = bot.webhook
        assert hook is not None
        limit = max(1, int(hook.get("max_connections") or DEFAULT_MAX_CONNECTIONS))
        seen: set[Hashable] = set()
        wake_at: float | None = None
        for update in bot.updates:
            queue = queue_of(update)
            if queue in seen:
                continue  # an earlier update of this queue is still pending
            seen.add(queue)
            update_id = update["update_id"]
            if update_id in posting:
                continue
            due = retry_at.get(update_id, now)
            if due > now:
                wake_at = due if wake_at is None else min(wake_at, due)
            elif len(posting) < limit:
                posting[update_id] = asyncio.create_task(self._post(hook, update))
        return wake_at

    def _settle(
        self,
        bot: BotState,
        update_id: int,
        error: str | None,
        retry_at: dict[int, float],
        delays: dict[int, float],
        now: float,
    ) -> None:
        """Forget an accepted update; schedule a refused one's retry with a growing delay."""
        if error is None:
            for index, update in enumerate(bot.updates):
                if update["update_id"] == update_id:
                    del bot.updates[index]
                    break
            retry_at.pop(update_id, None)
            delays.pop(update_id, None)
            bot.count("webhook_deliveries")
        else:
            delay = delays.get(update_id, self.retry_delay)
            retry_at[update_id] = now + delay
            delays[update_id] = min(delay * 2, self.max_retry_delay)
            bot.webhook_error = (int(self.clock()), error)
            bot.count("webhook_failures")
        bot.notify()

    async def _post(self, hook: dict[str, Any], update: dict[str, Any]) -> str | None:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        headers = {}
        if hook.get("secret_token"):
            headers[SECRET_HEADER] = hook["secret_token"]
        try:
            async with self.session.post(hook["url"], json=update, headers=headers) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"Connection failed: {exc!r}"

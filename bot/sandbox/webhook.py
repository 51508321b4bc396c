"""Webhook delivery: POST each pending update, in order, retrying until it is accepted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.sandbox.state import BotState

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


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
        """Stop delivering for a bot; an update in flight stays pending."""
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
        delay = self.retry_delay
        while bot.webhook is not None:
            if not bot.updates:
                await bot.changed.wait()
                continue
            update = bot.updates[0]
            error = await self._post(bot.webhook, update)
            if error is None:
                if bot.updates and bot.updates[0]["update_id"] == update["update_id"]:
                    bot.updates.pop(0)
                bot.count("webhook_deliveries")
                bot.notify()
                delay = self.retry_delay
                continue
            bot.webhook_error = (int(self.clock()), error)
            bot.count("webhook_failures")
            bot.notify()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_retry_delay)

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

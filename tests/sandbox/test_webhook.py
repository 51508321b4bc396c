"""Webhook delivery: secret header, in-order retries, and the getUpdates conflict."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, Update
from telegram.error import Conflict

from bot.sandbox import BotApiServer

pytestmark = pytest.mark.timeout(15)

BOT_NAME = "nudge_test_bot"
SECRET = "s3cret-Token_1"


@dataclass
class Receiver:
    """A tiny webhook endpoint that fails its first `failures` deliveries."""

    url: str = ""
    failures: int = 0
    attempts: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[str | None] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        """Accept an update unless a failure is still owed."""
        self.attempts += 1
        self.secrets.append(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=500)
        self.received.append(await request.json())
        return web.Response()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """Serve a Receiver on a free local port."""
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    hook.url = f"http://{host}:{port}/hook"
    yield hook
    await runner.cleanup()


async def test_updates_are_posted_with_the_secret_and_retried_in_order(
    server: BotApiServer, tg: Bot, receiver: Receiver
) -> None:
    receiver.failures = 2
    await tg.set_webhook(receiver.url, secret_token=SECRET)

    for text in ("/start", "one", "two"):
        server.send_text(BOT_NAME, 5001, text)
    await server.wait_until(BOT_NAME, lambda: len(receiver.received) == 3)

    updates = [Update.de_json(data, tg) for data in receiver.received]
    assert [u.message.text for u in updates] == ["/start", "one", "two"]
    assert [u.update_id for u in updates] == sorted(u.update_id for u in updates)
    assert (receiver.attempts, set(receiver.secrets)) == (5, {SECRET})
    info = await tg.get_webhook_info()
    assert (info.url, info.pending_update_count) == (receiver.url, 0)
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"


async def test_unreachable_webhook_keeps_updates_pending(server: BotApiServer, tg: Bot) -> None:
    await tg.set_webhook("http://127.0.0.1:9/nowhere")
    server.send_text(BOT_NAME, 5001, "/start")

    await server.wait_until(BOT_NAME, lambda: server.stats(BOT_NAME)["webhook_failures"] >= 1)

    assert (await tg.get_webhook_info()).pending_update_count == 1
    await tg.delete_webhook()
    assert [u.message.text for u in await tg.get_updates()] == ["/start"]


async def test_get_updates_conflicts_while_a_webhook_is_set(
    server: BotApiServer, tg: Bot, receiver: Receiver
) -> None:
    await tg.set_webhook(receiver.url)

    with pytest.raises(Conflict) as caught:
        await tg.get_updates()

    assert caught.value.message == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    await tg.delete_webhook(drop_pending_updates=True)
    assert (await tg.get_webhook_info()).url == ""
    assert await tg.get_updates() == ()

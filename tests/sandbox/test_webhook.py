"""Webhook delivery: secret header, in-order retries, Telegram's queues, getUpdates conflict."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
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


@dataclass
class Gate:
    """A webhook endpoint that holds every request until opened, counting what is in flight."""

    url: str = ""
    arrived: list[dict[str, Any]] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    most_in_flight: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        """Note the update, then wait for the gate to open before accepting it."""
        self.arrived.append(await request.json())
        async with self.changed:
            self.changed.notify_all()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.opened.wait()
        self.in_flight -= 1
        return web.Response()

    def texts(self) -> list[str]:
        """What arrived so far: message texts, and button data for presses."""
        return [
            u["message"]["text"] if "message" in u else u["callback_query"]["data"]
            for u in self.arrived
        ]

    async def until(self, count: int) -> None:
        """Wait until ``count`` requests arrived, then a moment more for any that should not."""
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(lambda: len(self.arrived) >= count)
        await asyncio.sleep(0.2)


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    """Serve a Gate on a free local port."""
    hook = Gate()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    hook.url = f"http://{host}:{port}/hook"
    yield hook
    hook.opened.set()
    await runner.cleanup()


async def test_chats_are_delivered_side_by_side_and_each_chat_in_order(
    server: BotApiServer, tg: Bot, gate: Gate
) -> None:
    await tg.set_webhook(gate.url)
    server.send_text(BOT_NAME, 5001, "a1")
    await gate.until(1)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    sent = await tg.send_message(5001, "Choose", reply_markup=keyboard)
    server.send_text(BOT_NAME, 5001, "a2")
    server.send_text(BOT_NAME, 5002, "b1")
    server.press_button(BOT_NAME, 5001, sent.message_id, "go")

    # Like Telegram: the next message of a chat waits for its previous one to be accepted,
    # while another chat's messages and this chat's button presses do not wait.
    await gate.until(3)
    assert gate.texts() == ["a1", "b1", "go"]
    assert (await tg.get_webhook_info()).pending_update_count == 4

    gate.opened.set()
    await server.wait_until(BOT_NAME, lambda: server.stats(BOT_NAME)["webhook_deliveries"] == 4)
    assert gate.texts() == ["a1", "b1", "go", "a2"]
    assert (gate.most_in_flight, server.stats(BOT_NAME)["pending_updates"]) == (3, 0)


async def test_max_connections_one_delivers_one_update_at_a_time(
    server: BotApiServer, tg: Bot, gate: Gate
) -> None:
    await tg.set_webhook(gate.url, max_connections=1)
    for user, text in ((5001, "a1"), (5002, "b1"), (5003, "c1")):
        server.send_text(BOT_NAME, user, text)

    await gate.until(1)
    assert gate.texts() == ["a1"]
    gate.opened.set()
    await server.wait_until(BOT_NAME, lambda: server.stats(BOT_NAME)["webhook_deliveries"] == 3)
    assert (gate.texts(), gate.most_in_flight) == (["a1", "b1", "c1"], 1)


async def test_a_refused_update_holds_back_its_own_chat_only(
    server: BotApiServer, tg: Bot, receiver: Receiver
) -> None:
    receiver.failures = 1
    server.webhooks.retry_delay = 0.5
    await tg.set_webhook(receiver.url)
    server.send_text(BOT_NAME, 5001, "a1")
    await server.wait_until(BOT_NAME, lambda: server.stats(BOT_NAME)["webhook_failures"] == 1)
    server.send_text(BOT_NAME, 5001, "a2")
    server.send_text(BOT_NAME, 5002, "b1")

    await server.wait_until(BOT_NAME, lambda: len(receiver.received) == 3)
    assert [u["message"]["text"] for u in receiver.received] == ["b1", "a1", "a2"]
    assert receiver.attempts == 4

"""Benchmark: inbound updates through the promise flow on PostgreSQL, against a bare echo bot.

Many debtors at once each go through the promise flow (/menu, "Promise to pay", an account if
asked, "Tomorrow", "Full amount: …", "Confirm") against the real bot in one process, with the
local Bot API server (flood limits off) and the simulated users in that same process. Then a
bare python-telegram-bot echo bot gets as many users and updates in the same way: the same mix
as the promise flow (one text, then four button presses, each answered with
``answerCallbackQuery`` and a message with a button, as any bot must answer a press). For
reference, also texts only, and the same mix over nudgebot's own Bot API transport (aiohttp;
the bare bot uses python-telegram-bot's default, httpx). Printed: updates per second of each,
the ratio of nudgebot to the bare echo bot with the same mix (goal ≥ 0.5) and to the others,
and p50/p99 latency per update, from the user's action to the bot's answer arriving at the Bot
API server, both with every user at once (mostly queueing) and for users going through one
after another (an idle bot).

    python bench/inbound.py [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench]
                            [--users 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from common import fresh_database, link_every_debtor, vacuum
from sqlalchemy import text

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/nudgebot_bench"
TOKEN = "888000:inbound-bench-token"
BOT = "inbound_bench_bot"
CHAT_BASE = 5_000_000
UPDATES_PER_USER = 5
# Users who go through alone first, for the latency of an update on an otherwise idle bot.
SOLO = 20
# No single answer may take longer than this; a stuck run fails instead of hanging.
STEP_TIMEOUT = 60.0
CHILD_TIMEOUT = 240.0

Entry = dict[str, Any]
Match = Callable[[Entry], bool]


async def _debtors(url: str, count: int) -> None:
    """Verified debtors in English, each with one open account and a Telegram chat."""
    from bot.db.engine import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO debtor (debtor_ref, full_name, locale, timezone, created_at,"
                " updated_at) SELECT 'D-' || g, 'Debtor ' || g, 'en_US', 'Europe/London',"
                " now(), now() FROM generate_series(1, :n) g"
            ),
            {"n": count},
        )
        await conn.execute(
            text(
                "INSERT INTO account (account_ref, debtor_id, currency, amount_due_minor,"
                " due_date, status, late_fee_waived, created_at, updated_at)"
                " SELECT 'A-' || id, id, 'USD', 10000 + id * 37 % 90000,"
                " CURRENT_DATE - 10, 'open', false, now(), now() FROM debtor"
            )
        )
        await link_every_debtor(conn, CHAT_BASE)
    await vacuum(engine)
    await engine.dispose()


class _Deliveries(list):
    """A chat's record of delivered messages that also tells a listener of each new one."""

    def __init__(self, entries: list[Entry], listener: Callable[[Entry], None]) -> None:
        super().__init__(entries)
        self.listener = listener

    def append(self, entry: Entry) -> None:
        """Record a delivery, then tell the listener."""
        super().append(entry)
        self.listener(entry)


class Replies:
    """Wakes each user the moment the bot's matching answer reaches the sandbox.

    Each chat's list of deliveries (the one ``server.stats()`` reports) is replaced by one that
    calls back on every new delivery, so waiting costs nothing per other chat's message, and an
    answer's time is the one the sandbox stamped on delivery.
    """

    def __init__(self, server: Any, bot: str) -> None:
        self.server = server
        self.bot = bot
        self.waiting: dict[int, tuple[Match, asyncio.Future[Entry]]] = {}

    def chat(self, chat_id: int) -> Any:
        """The sandbox's chat with a user."""
        return self.server.bot(self.bot).chats[chat_id]

    def _watch(self, chat_id: int) -> None:
        chat = self.chat(chat_id)
        if not isinstance(chat.delivered, _Deliveries):
            chat.delivered = _Deliveries(chat.delivered, lambda e: self._delivered(chat_id, e))

    def _delivered(self, chat_id: int, entry: Entry) -> None:
        match, future = self.waiting.get(chat_id, (None, None))
        if match is not None and not future.done() and match(entry):
            del self.waiting[chat_id]
            future.set_result(entry)

    async def act(self, chat_id: int, action: Callable[[], object], match: Match) -> Entry:
        """Do something as the user; return the first answer after it that matches."""
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self.waiting[chat_id] = (match, future)
        sent_at = self.server.clock()
        action()
        # The chat exists once the user has written; no answer can come before we yield.
        self._watch(chat_id)
        try:
            entry = await asyncio.wait_for(future, STEP_TIMEOUT)
        finally:
            self.waiting.pop(chat_id, None)
        return {**entry, "latency": entry["at"] - sent_at}

    def buttons(self, chat_id: int, entry: Entry) -> list[dict[str, Any]]:
        """The inline buttons on a delivered message."""
        record = self.chat(chat_id).by_id[entry["message_id"]]
        return [button for row in record.inline_keyboard() for button in row]


def _user(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "first_name": f"U{chat_id}", "language_code": "en"}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _promise_flow(replies: Replies, chat_id: int) -> list[float]:
    """One debtor's promise from the menu to the confirmation; the latency of each update."""
    from bot import labels
    from bot.i18n import translator

    _ = translator("en_US")
    server, user = replies.server, _user(chat_id)
    latencies: list[float] = []

    def has(label: str) -> Match:
        prefix = label.split("{", 1)[0]
        return lambda e: any(
            b.get("text", "").startswith(prefix) for b in replies.buttons(chat_id, e)
        )

    async def press(entry: Entry, label: str, match: Match) -> Entry:
        prefix = label.split("{", 1)[0]
        button = next(
            b for b in replies.buttons(chat_id, entry) if b.get("text", "").startswith(prefix)
        )
        data, message_id = button["callback_data"], entry["message_id"]
        answer = await replies.act(
            chat_id, lambda: server.press_button(BOT, user, message_id, data), match
        )
        latencies.append(answer["latency"])
        return answer

    menu = await replies.act(
        chat_id, lambda: server.send_text(BOT, user, "/menu"), has(_(labels.MENU["promise"]))
    )
    latencies.append(menu["latency"])
    asked = await press(
        menu, _(labels.MENU["promise"]), lambda e: bool(replies.buttons(chat_id, e))
    )
    if not any(b.get("text") == _(labels.TOMORROW) for b in replies.buttons(chat_id, asked)):
        # Several accounts: the first is the most overdue.
        asked = await press(
            asked, replies.buttons(chat_id, asked)[0]["text"], has(_(labels.TOMORROW))
        )
    amount = await press(asked, _(labels.TOMORROW), has(_(labels.FULL_AMOUNT)))
    confirm = await press(amount, _(labels.FULL_AMOUNT), has(_(labels.CONFIRM)))
    await press(confirm, _(labels.CONFIRM), lambda e: True)
    return latencies


async def _echo_flow(replies: Replies, chat_id: int, *, buttons: bool) -> list[float]:
    """As many updates as a promise takes, each answered with what was sent.

    With ``buttons``, the same mix as the promise flow: one text, then presses of the button
    on the echo bot's last message, each answered (``answerCallbackQuery``) and echoed.
    """
    server, user = replies.server, _user(chat_id)
    latencies = []
    answer = None
    for step in range(UPDATES_PER_USER):
        if buttons and answer is not None:
            message_id = answer["message_id"]
            said = replies.buttons(chat_id, answer)[0]["callback_data"]

            def action(said: str = said, message_id: int = message_id) -> object:
                return server.press_button(BOT, user, message_id, said)

        else:
            said = f"hello {chat_id} #{step}"

            def action(said: str = said) -> object:
                return server.send_text(BOT, user, said)

        answer = await replies.act(chat_id, action, lambda e, said=said: e["text"] == said)
        latencies.append(answer["latency"])
    return latencies


async def _drive(
    replies: Replies, chat_ids: list[int], flow: Callable[[Replies, int], Any]
) -> dict[str, Any]:
    """Every user presses Start (not measured); the first ``SOLO`` go through ``flow`` one
    after another, then all the others at once."""
    server = replies.server
    await asyncio.gather(
        *(
            replies.act(c, lambda c=c: server.send_text(BOT, _user(c), "/start"), lambda e: True)
            for c in chat_ids
        )
    )
    alone: list[float] = []
    for chat_id in chat_ids[:SOLO]:
        alone += await flow(replies, chat_id)
    started, cpu = time.perf_counter(), time.process_time()
    results = await asyncio.gather(*(flow(replies, c) for c in chat_ids[SOLO:]))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    crowd = [x for r in results for x in r]
    return {
        "users": len(chat_ids) - SOLO,
        "updates": len(crowd),
        "seconds": elapsed,
        "rate": len(crowd) / elapsed,
        "cpu_ms": cpu / len(crowd) * 1000,
        "p50_ms": _percentile(crowd, 0.50) * 1000,
        "p99_ms": _percentile(crowd, 0.99) * 1000,
        "alone_p50_ms": _percentile(alone, 0.50) * 1000,
        "alone_p99_ms": _percentile(alone, 0.99) * 1000,
    }


def _failed_sends(stats: dict[str, Any]) -> int:
    return stats["requests"].get("sendmessage", 0) - stats["sent"]


async def _nudgebot(url: str, users: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from bot.app import running
    from bot.channels.telegram.ratelimit import ChatRateLimiter
    from bot.db.models import Promise
    from bot.sandbox import BotApiServer, RateLimits
    from bot.settings import load_settings

    await fresh_database(url)
    await _debtors(url, users + SOLO)
    server = BotApiServer(rate_limits=RateLimits(enabled=False))
    server.add_bot(TOKEN, username=BOT)
    await server.start()
    settings = load_settings(
        database_url=url, bot_token=TOKEN, telegram_api_url=server.base_url, web_port=0,
        webhook_url=None, creditor_name="Bench Lending",
    )  # fmt: skip
    # The sandbox does not limit, and neither may the bot: this measures handling, not spacing.
    limiter = ChatRateLimiter(global_rate=1e9, per_chat_rate=1e9)
    replies = Replies(server, BOT)
    try:
        async with running(settings, rate_limiter=limiter, reminders=False) as process:
            async with process.sessions() as s:
                debtor_ids = (await s.execute(text("SELECT id FROM debtor"))).scalars().all()
            chat_ids = [CHAT_BASE + d for d in debtor_ids]
            result = await _drive(replies, chat_ids, _promise_flow)
            async with process.sessions() as s:
                promises = (await s.execute(select(func.count()).select_from(Promise))).scalar()
        stats = server.stats(BOT)
    finally:
        await server.stop()
    return {**result, "promises": promises, "failed_sends": _failed_sends(stats)}


async def _echo(users: int, buttons: bool, aiohttp: bool = False) -> dict[str, Any]:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import (
        Application,
        CallbackQueryHandler,
        ContextTypes,
        MessageHandler,
        filters,
    )

    from bot.app import POLL_TIMEOUT
    from bot.channels.telegram.polling import CONCURRENT_UPDATES
    from bot.channels.telegram.transport import AiohttpRequest
    from bot.sandbox import BotApiServer, RateLimits

    def again(text: str) -> InlineKeyboardMarkup:
        # Each button's data is new, so each press gets an answer of its own to wait for.
        return InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data=text + "+")]])

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = update.effective_message.text
        await update.effective_message.reply_text(
            text, reply_markup=again(text) if buttons else None
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer()
        await context.bot.send_message(
            update.effective_chat.id, query.data, reply_markup=again(query.data)
        )

    server = BotApiServer(rate_limits=RateLimits(enabled=False))
    server.add_bot(TOKEN, username=BOT)
    await server.start()
    # python-telegram-bot's own long polling, with the same concurrency and poll timeout as
    # nudgebot (whose poller confirms a batch only once it is handled).
    builder = (
        Application.builder()
        .token(TOKEN)
        .base_url(server.api_url)
        .concurrent_updates(CONCURRENT_UPDATES)
    )
    if aiohttp:
        # For reference only: the echo bot over nudgebot's own transport.
        builder = builder.request(AiohttpRequest()).get_updates_request(AiohttpRequest(1))
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(pressed))
    replies = Replies(server, BOT)
    try:
        async with application:
            await application.start()
            await application.updater.start_polling(poll_interval=0.0, timeout=POLL_TIMEOUT)
            chat_ids = [CHAT_BASE + n for n in range(1, users + SOLO + 1)]
            result = await _drive(
                replies, chat_ids, lambda r, c: _echo_flow(r, c, buttons=buttons)
            )
            await application.updater.stop()
            await application.stop()
        stats = server.stats(BOT)
    finally:
        await server.stop()
    return {**result, "failed_sends": _failed_sends(stats)}


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True, capture_output=True, text=True, timeout=CHILD_TIMEOUT,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def _line(name: str, r: dict[str, Any]) -> str:
    return (
        f"  {name:<9} {r['updates']:>5,} updates from {r['users']} users at once in"
        f" {r['seconds']:5.2f} s: {r['rate']:6.1f} updates/s ({r['cpu_ms']:.1f} ms of this"
        f" process's CPU each); latency p50 {r['p50_ms']:6.1f} ms,"
        f" p99 {r['p99_ms']:6.1f} ms; one user alone: p50 {r['alone_p50_ms']:5.1f} ms,"
        f" p99 {r['alone_p99_ms']:5.1f} ms; failed sends {r['failed_sends']}"
    )


def main() -> None:
    """Run each side in a fresh process and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child:
        kind, users = args.child[0], int(args.child[1])
        if kind == "nudgebot":
            coro = _nudgebot(args.pg, users)
        else:
            coro = _echo(users, buttons=kind.startswith("echo-buttons"), aiohttp="aiohttp" in kind)
        print(json.dumps(asyncio.run(coro)))
        return
    print(
        f"inbound updates on PostgreSQL, {UPDATES_PER_USER} per user; {SOLO} users one after"
        f" another, then {args.users} at once (bot, local Bot API without flood limits and the"
        " users in one process)"
    )
    bot = _child("nudgebot", str(args.users))
    print(_line("nudgebot", bot) + f"; {bot['promises']:,} promises stored")
    peer = _child("echo-buttons", str(args.users))
    print(_line("echo bot", peer) + " (one text, then button presses, as the promise flow)")
    texts = _child("echo", str(args.users))
    print(_line("echo bot", texts) + " (texts only)")
    same = _child("echo-buttons-aiohttp", str(args.users))
    print(_line("echo bot", same) + " (as the promise flow, over nudgebot's aiohttp transport)")
    print(
        f"  updates/s of nudgebot / echo bot: {bot['rate'] / peer['rate']:.2f} (goal ≥ 0.5);"
        f" against the texts-only echo bot {bot['rate'] / texts['rate']:.2f}; against the echo"
        f" bot over the same transport as nudgebot {bot['rate'] / same['rate']:.2f}"
    )


if __name__ == "__main__":
    main()

"""Fixtures for sending reminders through the real Telegram adapter to the local Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from telegram.ext import ExtBot

from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.channels.telegram.sender import TelegramSender
from bot.db.models import OutboxStatus, ReminderOutbox
from bot.db.workers import WorkerLease
from bot.policy import Policy, load_policy
from bot.reminders.dispatcher import Dispatcher
from bot.sandbox import BotApiServer, RateLimits
from tests.helpers import add_debtor

TOKEN = "515151:AAE-dispatch-test-token"
BOT = "nudge_dispatch_bot"


@dataclass
class Post:
    """The sandbox, the sender, and a dispatcher factory."""

    sandbox: BotApiServer
    sender: TelegramSender
    limiter: ChatRateLimiter
    sessions: object
    leases: list[WorkerLease]

    def dispatcher(
        self, policy: Policy | None = None, sender: TelegramSender | None = None
    ) -> Dispatcher:
        """A dispatcher with the given policy (the default one otherwise), sending through
        ``sender`` (the fixture's otherwise)."""
        return Dispatcher(
            self.sessions, sender or self.sender, policy or load_policy(), creditor="Acme Lending",
            payment_url_template="https://pay.example/{account_ref}",
        )  # fmt: skip

    async def another_process(self) -> TelegramSender:
        """A sender with a worker lease of its own, as another process would have (live
        until the test ends)."""
        sender = TelegramSender(self.sender.bot, self.sessions)
        await sender.lease.start()
        self.leases.append(sender.lease)
        return sender

    async def due(self, chats: list[int], today: date) -> None:
        """A verified debtor per chat, with one account three days overdue, who pressed
        Start (nothing for the bot to answer: only to remind)."""
        self.started(*chats)
        self.sandbox.bot(BOT).updates.clear()
        async with self.sessions.begin() as s:
            for chat in chats:
                await add_debtor(
                    s, f"D-{chat}", chat_id=chat,
                    accounts=[(f"A-{chat}", today - timedelta(days=3), 100, "USD")],
                )  # fmt: skip

    def started(self, *chat_ids: int, language: str = "en") -> None:
        """These users pressed Start, so the bot may write to them."""
        for chat_id in chat_ids:
            user = {"id": chat_id, "first_name": "U", "language_code": language}
            self.sandbox.send_text(BOT, user, "/start")


async def sent_before(sessions, debtor_id: int, *instants: datetime) -> None:
    """Stage reminders already sent to the debtor at these instants (the caps count them)."""
    async with sessions.begin() as s:
        for i, at in enumerate(instants):
            s.add(
                ReminderOutbox(
                    dedupe_key=f"old:{debtor_id}:{i}", debtor_id=debtor_id, kind="stage",
                    stage="early", template_key="stage_early", planned_at=at, not_before=at,
                    status=OutboxStatus.SENT, sent_at=at, attempts=1,
                )
            )  # fmt: skip


@pytest.fixture
async def post(sessions) -> AsyncIterator[Post]:
    """A local Telegram with its real limits and our sender in front of it."""
    sandbox = BotApiServer(rate_limits=RateLimits())
    sandbox.add_bot(TOKEN, username=BOT)
    await sandbox.start()
    limiter = ChatRateLimiter()
    bot = ExtBot(TOKEN, base_url=sandbox.api_url, rate_limiter=limiter)
    async with bot:
        sender = TelegramSender(bot, sessions)
        await sender.lease.start()
        post = Post(sandbox, sender, limiter, sessions, [sender.lease])
        yield post
        for lease in post.leases:
            await lease.stop()
    await sandbox.stop()

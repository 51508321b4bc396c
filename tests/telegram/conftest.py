"""Fixtures for end-to-end tests: the real bot process against the local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.accounts.importer import import_accounts
from bot.app import Running, running
from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.db.base import utcnow
from bot.linking.tokens import issue_links
from bot.sandbox import BotApiServer, RateLimits
from bot.settings import Settings, load_settings
from tests.helpers import ACCOUNT_HEADER, write_csv

TOKEN = "424242:AAE-nudgebot-e2e-token"
BOT = "nudge_e2e_bot"
PORTFOLIO = ACCOUNT_HEADER + (
    "ACC-1001,D-001,Alice Martin,+1 415 555 0132,en_US,America/Los_Angeles,USD,1234.50,"
    "2026-11-20,,Personal loan\n"
    "ACC-1002,D-001,Alice Martin,+1 415 555 0132,en_US,America/Los_Angeles,USD,89.99,"
    "2026-11-25,,\n"
    "ACC-2001,D-002,王小明,+86 138 0013 8000,zh_CN,Asia/Shanghai,CNY,5600.00,2026-11-10,,消费贷\n"
    "ACC-3001,D-003,Bob Stone,+1 212 555 0199,en,America/New_York,USD,310.00,2026-10-30,,\n"
)
ALICE = {"id": 7001, "first_name": "Alice", "language_code": "en"}
WANG = {"id": 7002, "first_name": "小明", "language_code": "zh-hans"}
STRANGER = {"id": 7666, "first_name": "Mallory", "language_code": "en"}
# Conversations in ``world`` pace a chat at 20 messages/s, with the sandbox allowing as much,
# so that a dialogue does not wait a second for each answer. The bot holds to Telegram's own
# 1/s per chat in test_ratelimit, test_channel and test_shared_pace, against the real limits.
DIALOGUE_PACE = 20.0


@dataclass
class World:
    """A running bot, its sandbox Telegram, and the deep-link tokens of the sample debtors."""

    sandbox: BotApiServer
    process: Running
    sessions: async_sessionmaker[AsyncSession]
    tokens: dict[str, str]
    settings: Settings
    stack: AsyncExitStack | None = None

    async def process_stop(self) -> None:
        """Stop the bot process (as a crash or a deploy would, between two updates)."""
        if self.stack is not None:
            await self.stack.aclose()

    async def say(self, user: dict, text: str, expect: int) -> list[str]:
        """The user writes; wait for the bot's ``expect``-th message in total; return all texts."""
        self.sandbox.send_text(BOT, user, text)
        return await self.texts(user, expect)

    async def texts(self, user: dict, count: int) -> list[str]:
        """Wait until the bot has sent ``count`` messages to the user; return their texts."""
        messages = await self.sandbox.wait_for_bot_messages(BOT, user["id"], count, within=10)
        return [m["text"] for m in messages]


def bot_settings(database_url: str, sandbox: BotApiServer, **extra: object) -> Settings:
    """Settings of a bot process pointed at the sandbox."""
    values: dict[str, object] = {
        "database_url": database_url,
        "bot_token": TOKEN,
        "telegram_api_url": sandbox.base_url,
        "web_port": 0,
        "creditor_name": "Acme Lending",
        "payment_url_template": "https://pay.example/acme/{account_ref}",
    }
    return load_settings(**{**values, **extra})


@pytest.fixture
async def sandbox() -> AsyncIterator[BotApiServer]:
    """A local Telegram with Telegram's own limits."""
    server = BotApiServer(rate_limits=RateLimits())
    server.add_bot(TOKEN, username=BOT, first_name="Acme Assistant")
    await server.start()
    yield server
    await server.stop()


async def seed(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> dict[str, str]:
    """Import the sample portfolio and issue one deep-link token per debtor."""
    report = await import_accounts(
        sessions, write_csv(tmp_path / "p.csv", PORTFOLIO), "US", clock=utcnow
    )
    assert report.errors == []
    async with sessions.begin() as s:
        issued, _ = await issue_links(s, now=utcnow(), ttl=timedelta(days=30), rotate=False)
    return {link.debtor_ref: link.token for link in issued}


@pytest.fixture(params=["polling", "webhook"])
async def world(request, sandbox, sessions, database_url, tmp_path) -> AsyncIterator[World]:
    """The bot running in polling or webhook mode, with the sample debtors imported."""
    tokens = await seed(sessions, tmp_path)
    extra: dict[str, object] = {}
    if request.param == "webhook":
        # The port is only known once the server listens, so reserve one first.
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        extra = {
            "web_port": port,
            "webhook_url": f"http://127.0.0.1:{port}/telegram/webhook",
            "webhook_secret": "s3cret-Token_for-tests",
        }
    settings = bot_settings(database_url, sandbox, **extra)
    sandbox.set_rate_limits(RateLimits(chat_per_second=DIALOGUE_PACE))
    async with AsyncExitStack() as stack:
        process = await stack.enter_async_context(
            running(
                settings,
                rate_limiter=ChatRateLimiter(per_chat_rate=DIALOGUE_PACE),
                reminders=False,
            )
        )
        yield World(sandbox, process, sessions, tokens, settings, stack)

"""Fixtures: a running sandbox Bot API server and a python-telegram-bot Bot pointed at it."""

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from bot.sandbox import BotApiServer, RateLimits

TOKEN = "123456:AAE-sandbox-test-token"
BOT_NAME = "nudge_test_bot"
USER = {"id": 5001, "first_name": "Ada", "last_name": "Lovelace", "language_code": "en"}


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    """Return a started sandbox with one bot and generous rate limits."""
    sandbox = BotApiServer(rate_limits=RateLimits(chat_burst=20, global_burst=100))
    sandbox.add_bot(TOKEN, username=BOT_NAME, first_name="Nudge")
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def tg(server: BotApiServer) -> AsyncIterator[Bot]:
    """Return an initialised python-telegram-bot Bot talking to the sandbox."""
    async with Bot(TOKEN, base_url=server.api_url, base_file_url=server.file_url) as bot:
        yield bot


@pytest.fixture
def started(server: BotApiServer) -> int:
    """Return the id of a user who has pressed Start."""
    server.send_text(BOT_NAME, USER, "/start")
    return USER["id"]

"""Building the python-telegram-bot Application for one process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.channels.telegram import handlers
from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.channels.telegram.sender import TelegramSender
from bot.channels.telegram.transport import AiohttpRequest
from bot.conversation.pipeline import Conversations
from bot.db.base import utcnow
from bot.db.workers import WorkerLease
from bot.dialogues.engine import Settings as DialogueSettings
from bot.dialogues.router import Dialogues
from bot.metrics import Metrics
from bot.policy import Policy, load_policy
from bot.settings import Settings


def build_application(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    clock: Callable[[], datetime] = utcnow,
    rate_limiter: ChatRateLimiter | None = None,
    policy: Policy | None = None,
    lease: WorkerLease | None = None,
    metrics: Metrics | None = None,
) -> Application:
    """The Application talking to ``settings.telegram_api_url`` with our handlers installed."""
    settings.require("bot_token")
    root = settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .token(settings.bot_token.get_secret_value())
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .rate_limiter(rate_limiter or ChatRateLimiter())
        # Bot API calls go over aiohttp (see transport.py for why); long polling has its own
        # connection, as with python-telegram-bot's defaults.
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest(1))
        .context_types(ContextTypes(context=handlers.BotContext))
        # Updates come from our Poller or the webhook route (each calling process_update), never
        # python-telegram-bot's Updater and update queue, so it sets no concurrency here.
        .updater(None)
    )
    application = builder.build()
    metrics = metrics or Metrics()
    sender = TelegramSender(application.bot, sessions, clock, lease, metrics)
    owner = Dialogues(
        policy or load_policy(settings.policy_file),
        DialogueSettings(settings.creditor_name, settings.payment_url_template),
    )
    conversations = Conversations(
        sessions, owner, {sender.channel: sender}, clock, settings.creditor_name
    )
    application.bot_data["services"] = handlers.Services(conversations, sender, metrics)
    handlers.install(application)
    return application

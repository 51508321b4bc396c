"""Telegram deep links: ``https://t.me/<bot>?start=<token>``."""

from __future__ import annotations

from telegram import Bot
from telegram.error import TelegramError

from bot.settings import Settings, SettingsError


def deep_link(username: str, token: str) -> str:
    """The link a creditor sends to a debtor."""
    return f"https://t.me/{username}?start={token}"


async def bot_username(settings: Settings) -> str:
    """Ask the Bot API who this bot is (getMe)."""
    settings.require("bot_token")
    root = settings.telegram_api_url
    bot = Bot(settings.bot_token.get_secret_value(), base_url=f"{root}/bot")
    try:
        async with bot:
            return bot.username
    except TelegramError as exc:
        raise SettingsError(
            f"cannot ask the Bot API at {root} for the bot's name ({type(exc).__name__});"
            " check NUDGEBOT_BOT_TOKEN and NUDGEBOT_TELEGRAM_API_URL, or pass --bot-username"
        ) from None

"""Telegram deep links: ``https://t.me/<bot>?start=<token>``."""

from __future__ import annotations

from bot.channels.telegram.reach import BotApiUnreachable, check_bot_api, standalone_bot
from bot.settings import Settings, SettingsError


def deep_link(username: str, token: str) -> str:
    """The link a creditor sends to a debtor."""
    return f"https://t.me/{username}?start={token}"


async def bot_username(settings: Settings) -> str:
    """Ask the Bot API who this bot is (getMe)."""
    bot = standalone_bot(settings)
    try:
        await check_bot_api(bot, settings)
    except BotApiUnreachable as exc:
        raise SettingsError(f"{exc}, or pass --bot-username") from None
    async with bot:
        return bot.username

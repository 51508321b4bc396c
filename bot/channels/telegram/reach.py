"""Reaching the Bot API before work starts: one line saying why not, never a traceback or the
token; ``nudgebot run`` keeps trying, since a network blip at boot must not need a hand."""

from __future__ import annotations

import asyncio
import logging

from telegram.error import InvalidToken, NetworkError
from telegram.ext import ExtBot

from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.channels.telegram.transport import AiohttpRequest
from bot.settings import Settings, SettingsError

log = logging.getLogger(__name__)

FIRST_WAIT, LONGEST_WAIT = 2.0, 60.0


class BotApiUnreachable(Exception):
    """The Bot API did not answer; the message names where and why."""


def standalone_bot(settings: Settings, rate_limiter: ChatRateLimiter | None = None) -> ExtBot:
    """A bot for a command that talks to Telegram without running the Application, over the
    same aiohttp transport as the running bot."""
    settings.require("bot_token")
    return ExtBot(
        settings.bot_token.get_secret_value(),
        base_url=f"{settings.telegram_api_url}/bot",
        base_file_url=f"{settings.telegram_api_url}/file/bot",
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(1),
        rate_limiter=rate_limiter,
    )


async def check_bot_api(bot: ExtBot, settings: Settings) -> None:
    """Initialize ``bot`` (getMe). SettingsError for a token Telegram refuses,
    BotApiUnreachable when it cannot be reached; either way the bot is shut down again."""
    root = settings.telegram_api_url
    try:
        await bot.initialize()
    except InvalidToken:
        await bot.shutdown()
        # python-telegram-bot's own message quotes the token.
        raise SettingsError(
            f"the Bot API at {root} refused NUDGEBOT_BOT_TOKEN; check the token BotFather gave"
        ) from None
    except NetworkError as exc:  # TimedOut too
        await bot.shutdown()
        raise BotApiUnreachable(
            f"cannot reach the Bot API at {root} ({exc.message}); check the network and"
            " NUDGEBOT_TELEGRAM_API_URL"
        ) from None


async def wait_for_bot_api(bot: ExtBot, settings: Settings, stop: asyncio.Event) -> bool:
    """Initialize ``bot`` once the Bot API answers (True), or give up when ``stop`` is set
    (False), logging each failed try and when the next is; a refused token ends at once
    (SettingsError)."""
    wait = FIRST_WAIT
    while True:
        try:
            await check_bot_api(bot, settings)
            return True
        except BotApiUnreachable as exc:
            log.warning("%s; trying again in %.0f s", exc, wait)
        try:
            await asyncio.wait_for(stop.wait(), wait)
            return False
        except TimeoutError:
            wait = min(wait * 2, LONGEST_WAIT)

"""The bot's command menu in each language, published to Telegram with setMyCommands."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand
from telegram.error import TelegramError

from bot import labels
from bot.channels.telegram.handlers import COMMANDS
from bot.i18n import FALLBACK_LOCALE, translator

log = logging.getLogger(__name__)
# Telegram's two-letter language_code ("" is everyone else) → the catalog its menu reads.
MENU_LANGUAGES = (("", FALLBACK_LOCALE), ("zh", "zh_CN"))
# Every command the bot handles, in the order the menu shows them.
PUBLISHED = tuple(name for name in labels.COMMANDS if name in {"start", "stop", *COMMANDS})


def command_menu(locale: str) -> list[BotCommand]:
    """The commands with their descriptions in ``locale``."""
    _ = translator(locale)
    return [BotCommand(name, _(labels.COMMANDS[name])) for name in PUBLISHED]


async def publish_commands(bot: Bot) -> None:
    """Set the command menu for each language; a failure is logged and the bot runs on."""
    for language_code, locale in MENU_LANGUAGES:
        try:
            await bot.set_my_commands(command_menu(locale), language_code=language_code or None)
        except TelegramError as exc:
            log.warning(
                "could not set the command menu (language_code=%r): %s", language_code, exc
            )

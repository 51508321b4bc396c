"""The bot's command menu in each language, published to Telegram with setMyCommands."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand
from telegram.error import TelegramError

from bot.dialogues import registry
from bot.i18n import FALLBACK_LOCALE, translator

log = logging.getLogger(__name__)
# Telegram's two-letter language_code ("" is everyone else) → the catalog its menu reads.
MENU_LANGUAGES = (("", FALLBACK_LOCALE), ("zh", "zh_CN"))


def command_menu(locale: str) -> list[BotCommand]:
    """The commands the dialogues declare, in their order, described in ``locale``."""
    _ = translator(locale)
    return [BotCommand(c.name, _(c.description)) for c in registry.commands()]


async def publish_commands(bot: Bot) -> None:
    """Set the command menu for each language; a failure is logged and the bot runs on."""
    for language_code, locale in MENU_LANGUAGES:
        try:
            await bot.set_my_commands(command_menu(locale), language_code=language_code or None)
        except TelegramError as exc:
            log.warning(
                "could not set the command menu (language_code=%r): %s", language_code, exc
            )

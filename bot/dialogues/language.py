"""Choosing the language the bot writes in (kept on the debtor)."""

from __future__ import annotations

from bot import labels
from bot.db.base import touch
from bot.dialogues.engine import Turn
from bot.dialogues.registry import Command, Dialogue, MenuButton, Words
from bot.i18n import SUPPORTED_LOCALES, supported_locale, translator

PREFIX = "lang:"


async def ask(turn: Turn, said: str = "") -> None:
    """Which language?"""
    buttons = [
        [turn.button(labels.LANGUAGE_NAMES[loc], f"{PREFIX}{loc}")] for loc in SUPPORTED_LOCALES
    ]
    turn.say(turn._(labels.LANGUAGE_CHOOSE), [*buttons, turn.cancel_row()])


async def on_button(turn: Turn, action: str) -> None:
    """A language chosen, from any step: kept, said in that language, then the menu."""
    locale = action.removeprefix(PREFIX)
    if locale not in SUPPORTED_LOCALES:
        await turn.home()
        return
    if supported_locale(turn.debtor.locale) != locale:
        turn.debtor.locale = locale
        touch(turn.debtor, turn.now)
    turn.goto(None, None)
    turn.say(translator(locale)(labels.LANGUAGE_SET))
    await turn.home()


DIALOGUE = Dialogue(
    name="language",
    opens={"language": ask},
    buttons=(MenuButton("language", labels.MENU["language"], row=40, column=0),),
    commands=(Command("language", labels.COMMANDS["language"], position=60, opens="language"),),
    words=(
        Words(
            "language",
            position=50,
            phrases={"en": ("language", "english", "chinese"), "zh": ("中文", "语言", "英文")},
        ),
    ),
    prefix=PREFIX,
    on_button=on_button,
)

"""Stopping proactive messages: the menu's button here, /stop and STOP words in the pipeline,
which answers them before any dialogue (bot/conversation/pipeline.py)."""

from __future__ import annotations

from bot import labels
from bot.compliance.optout import opt_out
from bot.dialogues.engine import Turn
from bot.dialogues.registry import Command, Dialogue, MenuButton


async def stop(turn: Turn, said: str = "") -> None:
    """The menu's "Stop messages"."""
    await opt_out(turn.session, turn.debtor, turn.now, via="button")
    await turn.say_template("opted_out")


DIALOGUE = Dialogue(
    name="stop",
    opens={"stop": stop},
    buttons=(MenuButton("stop", labels.MENU["stop"], row=40, column=1),),
    # Answered before the dialogues, so it opens nothing here (in a flow it goes home).
    commands=(Command("stop", labels.COMMANDS["stop"], position=80),),
)

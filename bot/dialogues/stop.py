"""Stopping proactive messages: the menu's button here, /stop and STOP words in the pipeline,
which answers them before any dialogue (``opt_out_chat``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.channel import Chat, ReplyKeyboard
from bot.compliance.optout import opt_out
from bot.db.models import ChannelLink, Debtor
from bot.dialogues.engine import Outcome, Settings, Turn, template_message
from bot.dialogues.registry import Command, Dialogue, MenuButton


async def stop(turn: Turn, said: str = "") -> None:
    """The menu's "Stop messages"."""
    await opt_out(turn.session, turn.debtor, turn.now, via="button")
    await turn.say_template("opted_out")


async def opt_out_chat(
    s: AsyncSession,
    settings: Settings,
    chat: Chat,
    link: ChannelLink | None,
    now: datetime,
    via: str,
) -> Outcome:
    """Opt the chat's debtor (if any) out of proactive messages and confirm it, verified or
    not."""
    debtor = await s.get(Debtor, link.debtor_id) if link is not None else None
    if debtor is not None:
        await opt_out(s, debtor, now, via=via)
    locale = debtor.locale if debtor is not None else chat.language_code
    confirmed = await template_message(
        s, "opted_out", locale, settings.creditor, reply_keyboard=ReplyKeyboard.REMOVE
    )
    return Outcome(debtor.id if debtor else None, [confirmed])


DIALOGUE = Dialogue(
    name="stop",
    opens={"stop": stop},
    buttons=(MenuButton("stop", labels.MENU["stop"], row=40, column=1),),
    # Answered before the dialogues, so it opens nothing here (in a flow it goes home).
    commands=(Command("stop", labels.COMMANDS["stop"], position=80),),
)

"""TEMPORARY until the flow registry lands: the bot's answer, from Linking and Dialogues."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channel import Chat
from bot.db.models import ChannelLink
from bot.dialogues.engine import Input
from bot.dialogues.router import Dialogues
from bot.linking.verify import Linking, Outcome


class BotOwner:
    """Verification first, then the dialogues."""

    def __init__(self, linking: Linking, dialogues: Dialogues) -> None:
        self.linking, self.dialogues = linking, dialogues

    async def link_of(self, s: AsyncSession, chat: Chat) -> ChannelLink | None:
        """The chat's link."""
        return await self.linking.link_of(s, chat)

    async def answer(
        self, s: AsyncSession, chat: Chat, link: ChannelLink | None, inp: Input, now: datetime
    ) -> Outcome | None:
        """Any input of any chat."""
        linking = self.linking
        if inp.kind == "start":
            return await linking.start(s, chat, link, inp.text, now)
        if inp.kind == "contact":
            return await linking.contact(s, chat, link, inp.contact_user_id, inp.phone, now)
        if link is None or link.verified_at is None:
            if inp.kind == "text":
                return await linking.text(s, chat, link, inp.text, now)
            return await linking.unverified_prompt(s, chat, link, now)
        if inp.kind == "other":
            inp = Input("command", text="menu")
        messages = await self.dialogues.handle(
            s, channel=chat.channel, chat_id=chat.chat_id, debtor_id=link.debtor_id, inp=inp,
            now=now,
        )  # fmt: skip
        return Outcome(link.debtor_id, messages)

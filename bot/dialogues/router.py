"""Routing one input of a chat: identity checks first, then buttons, commands and free text to
the dialogues that declared them (``registry``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from bot import labels
from bot.channel import Button, Chat, OutMessage
from bot.db.models import ChannelLink, Debtor
from bot.dialogues import intents, registry, verify
from bot.dialogues.engine import (
    FlowGone,
    Input,
    Outcome,
    Settings,
    Turn,
    idle_for,
    load_state,
    split_data,
)
from bot.dialogues.home import menu_buttons
from bot.policy import Policy

UNRECOGNISED_BEFORE_HELP = 3
# Built once: this runs for every update, and building a statement costs as much as running it.
_LINK_OF = (
    select(ChannelLink)
    .options(joinedload(ChannelLink.debtor))
    .where(
        ChannelLink.channel == bindparam("channel"), ChannelLink.chat_id == bindparam("chat_id")
    )
)


class Dialogues:
    """Answers every chat; each call is one turn inside the caller's transaction."""

    def __init__(self, policy: Policy, settings: Settings) -> None:
        self.policy = policy
        self.settings = settings
        self.verify = verify.Verify(settings)

    async def link_of(self, s: AsyncSession, chat: Chat) -> ChannelLink | None:
        """The link of this chat, if any, with its debtor loaded into the session."""
        found = await s.execute(_LINK_OF, {"channel": chat.channel, "chat_id": chat.chat_id})
        return found.scalar_one_or_none()

    async def answer(
        self, s: AsyncSession, chat: Chat, link: ChannelLink | None, inp: Input, now: datetime
    ) -> Outcome:
        """Answer any input of any chat: the identity check until the chat is verified, then
        the dialogues. ``/stop`` and STOP words never come here: the conversation pipeline
        answers them first."""
        if inp.kind == "start":
            return await self.verify.start(s, chat, link, inp.text, now)
        if inp.kind == "contact":
            return await self.verify.contact(s, chat, link, inp.contact_user_id, inp.phone, now)
        if link is None or link.verified_at is None:
            if inp.kind == "text":
                return await self.verify.text(s, chat, link, inp.text, now)
            return await self.verify.prompt(s, chat, link, now)
        if inp.kind == "other":
            inp = Input("command", text="menu")
        messages = await self.handle(
            s, channel=chat.channel, chat_id=chat.chat_id, debtor_id=link.debtor_id, inp=inp,
            now=now,
        )  # fmt: skip
        return Outcome(link.debtor_id, messages)

    async def handle(
        self,
        session: AsyncSession,
        *,
        channel: str,
        chat_id: int,
        debtor_id: int,
        inp: Input,
        now: datetime,
    ) -> list[OutMessage]:
        """Answer one input of a verified chat; the new position is saved with the caller's
        commit."""
        # NUL characters mean nothing to a person, and PostgreSQL cannot store them.
        inp = Input(inp.kind, inp.text.replace("\x00", ""), inp.data.replace("\x00", ""))
        debtor = await session.get(Debtor, debtor_id)
        state = await load_state(session, channel, chat_id, debtor_id, now)
        turn = Turn(session, debtor, state, now, self.policy, self.settings)
        if debtor.deceased_at is not None:
            # Whoever writes from here now is not the debtor: disclose nothing about the debt.
            turn.goto(None, None)
            await turn.say_template("deceased_ack")
            return turn.replies
        if idle_for(state, now, self.policy):
            turn.goto(None, None)
            turn.say(turn._(labels.FLOW_TIMED_OUT))
        said = len(turn.replies)
        try:
            if inp.kind == "button":
                await self._button(turn, inp.data)
            elif inp.kind == "command":
                await self._command(turn, inp.text)
            else:
                await self._text(turn, inp.text)
        except FlowGone:
            # Paid, closed or withdrawn since the flow began: say so instead of going on.
            del turn.replies[said:]
            turn.goto(None, None)
            turn.say(turn._(labels.FLOW_GONE))
            await turn.home()
        await self._menu_after(turn)
        return turn.replies

    async def _menu_after(self, turn: Turn) -> None:
        """The menu under the last message of a flow that asked for it (``Turn.offer_menu``),
        unless that message has buttons or a keyboard of its own."""
        last = turn.replies[-1] if turn.replies else None
        if not turn.menu_after or last is None or last.buttons or last.reply_keyboard:
            return
        rows = menu_buttons(
            turn.debtor, await turn.open_accounts(), self.settings.payment_url_template
        )
        turn.replies[-1] = replace(last, buttons=rows)

    async def _current(self, turn: Turn) -> None:
        """Show where the chat stands: the flow's question, or the menu."""
        flow = registry.flows().get(turn.state.flow or "")
        if flow is not None and flow.prompt is not None:
            await flow.prompt(turn)
        else:
            await turn.home()

    async def _button(self, turn: Turn, data: str) -> None:
        action, version = split_data(data)
        flow = registry.flows().get(turn.state.flow or "")
        anywhere = next((d for d in registry.anywhere() if action.startswith(d.prefix)), None)
        if version is not None and version != turn.state.version:
            turn.say(turn._(labels.STALE))
            await self._current(turn)
        elif action == "cancel":
            await self._cancel(turn)
        elif action.startswith("menu:"):
            await self._menu(turn, action.removeprefix("menu:"))
        elif anywhere is not None and anywhere.on_button is not None:
            await anywhere.on_button(turn, action)
        elif flow is not None and flow.on_button is not None and version is not None:
            # Whatever its prefix: a flow answers data not its own by asking its question again.
            await flow.on_button(turn, action)
        else:
            turn.say(turn._(labels.STALE))
            await self._current(turn)

    async def _command(self, turn: Turn, name: str) -> None:
        command = registry.command(name)
        if name == "cancel":
            await self._cancel(turn)
        elif command is not None and command.opens is not None:
            await self._menu(turn, command.opens)
        else:
            turn.goto(None, None)
            await turn.home()

    async def _text(self, turn: Turn, text: str) -> None:
        flow = registry.flows().get(turn.state.flow or "")
        if flow is not None and flow.on_text is not None:
            await flow.on_text(turn, text)
            return
        found = intents.detect(text, turn.debtor.locale)
        if found is not None:
            turn.state.unrecognised_count = 0
            await self._menu(turn, found, said=text)
            return
        turn.state.unrecognised_count = (turn.state.unrecognised_count or 0) + 1
        if turn.state.unrecognised_count >= UNRECOGNISED_BEFORE_HELP:
            turn.state.unrecognised_count = 0
            turn.say(
                turn._(labels.OFFER_PERSON),
                [[Button(turn._(labels.MENU["person"]), data="menu:person")]],
            )
            return
        turn.say(turn._(labels.NOT_UNDERSTOOD))
        await turn.home()

    async def _cancel(self, turn: Turn) -> None:
        turn.goto(None, None)
        turn.say(turn._(labels.CANCELLED))
        await turn.home()

    async def _menu(self, turn: Turn, key: str, said: str = "") -> None:
        """Open what a menu button, a command or words asked for; anything else goes home."""
        turn.goto(None, None)
        run = registry.openers().get(key)
        if run is not None:
            await run(turn, said)
        else:
            await turn.home()

"""Routing one input of a verified chat: buttons, commands and free text to flows and menus."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.channel import Button, OutMessage
from bot.compliance.optout import opt_out
from bot.db.models import Debtor
from bot.dialogues import intents, plan, promise, situations
from bot.dialogues.engine import (
    FlowGone,
    Input,
    Settings,
    Turn,
    idle_for,
    load_state,
    split_data,
)
from bot.dialogues.home import home_message
from bot.i18n import SUPPORTED_LOCALES, supported_locale, translator
from bot.policy import Policy

FLOWS = {promise.FLOW: promise, plan.FLOW: plan, situations.FLOW: situations}
UNRECOGNISED_BEFORE_HELP = 3


class Dialogues:
    """Answers verified debtors; each call is one turn inside the caller's transaction."""

    def __init__(self, policy: Policy, settings: Settings) -> None:
        self.policy = policy
        self.settings = settings

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
        """Answer one input; the new position is saved with the caller's commit."""
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
            await self.home(turn)
        return turn.replies

    async def home(self, turn: Turn) -> None:
        """The summary with the menu."""
        turn.replies.append(
            await home_message(
                turn.session, turn.debtor, creditor=self.settings.creditor,
                payment_url_template=self.settings.payment_url_template,
            )
        )  # fmt: skip

    async def _current(self, turn: Turn) -> None:
        """Show where the chat stands: the flow's question, or the menu."""
        flow = FLOWS.get(turn.state.flow or "")
        if flow is not None:
            await flow.prompt(turn)
        else:
            await self.home(turn)

    async def _button(self, turn: Turn, data: str) -> None:
        action, version = split_data(data)
        if version is not None and version != turn.state.version:
            turn.say(turn._(labels.STALE))
            await self._current(turn)
        elif action == "cancel":
            await self._cancel(turn)
        elif action.startswith("menu:"):
            await self._menu(turn, action.removeprefix("menu:"))
        elif action.startswith("lang:"):
            await self._set_language(turn, action.removeprefix("lang:"))
        elif turn.state.flow in FLOWS and version is not None:
            await FLOWS[turn.state.flow].on_button(turn, action)
        else:
            turn.say(turn._(labels.STALE))
            await self._current(turn)

    async def _command(self, turn: Turn, name: str) -> None:
        if name == "cancel":
            await self._cancel(turn)
        elif name in ("promise", "plan", "language", "balance", "person"):
            await self._menu(turn, name)
        else:
            turn.goto(None, None)
            await self.home(turn)

    async def _text(self, turn: Turn, text: str) -> None:
        flow = FLOWS.get(turn.state.flow or "")
        if flow is not None:
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
        await self.home(turn)

    async def _cancel(self, turn: Turn) -> None:
        turn.goto(None, None)
        turn.say(turn._(labels.CANCELLED))
        await self.home(turn)

    async def _menu(self, turn: Turn, item: str, said: str = "") -> None:
        turn.goto(None, None)
        if item in ("promise", "plan"):
            started = promise.start(turn, said) if item == "promise" else plan.start(turn)
            if not await started:
                owed = await turn.open_accounts()
                turn.say(turn._(labels.PLAN_TOO_SMALL if owed else labels.NOTHING_OWED))
                if owed:
                    await self.home(turn)
        elif item == "cant_pay":
            await situations.ask(turn)
        elif item == "dispute":
            await situations.ask_dispute_or_complaint(turn)
        elif item == "person":
            await situations.hand_over(turn, "person_requested", "handoff_ack")
        elif item == "language":
            buttons = [
                [turn.button(labels.LANGUAGE_NAMES[loc], f"lang:{loc}")]
                for loc in SUPPORTED_LOCALES
            ]
            turn.say(turn._(labels.LANGUAGE_CHOOSE), [*buttons, turn.cancel_row()])
        elif item == "stop":
            await opt_out(turn.session, turn.debtor, turn.now, via="button")
            await turn.say_template("opted_out")
        else:
            await self.home(turn)

    async def _set_language(self, turn: Turn, locale: str) -> None:
        if locale not in SUPPORTED_LOCALES:
            await self.home(turn)
            return
        if supported_locale(turn.debtor.locale) != locale:
            turn.debtor.locale = locale
        turn.goto(None, None)
        turn.say(translator(locale)(labels.LANGUAGE_SET))
        await self.home(turn)

"""The conversation engine: one turn of a chat, with its position kept in the database.

A turn locks the chat's ``dialogue_state`` row (``FOR UPDATE`` on PostgreSQL; SQLite
transactions are serialised anyway), so two processes handling one chat's consecutive updates
take turns. Buttons inside a flow carry the state's version; a press whose version is not the
current one comes from an older message and gets a polite "that has changed".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import get_currency_name
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.accounts.names import greeting_name
from bot.channel import Button, OutMessage, ReplyKeyboard
from bot.db.models import Account, Debtor, DialogueState
from bot.dialogues.home import home_message, open_accounts
from bot.dialogues.parsing import fits_currency
from bot.i18n import translator
from bot.money import format_money
from bot.policy import Policy
from bot.templates.store import render


@dataclass(frozen=True)
class Input:
    """What the person did: typed text, pressed a button (``data``), sent a /command (``text``
    is its name), opened the bot (``start``, ``text`` is the deep-link payload), shared a
    contact (``contact``), or sent anything else (``other``: a sticker, a photo)."""

    kind: str  # "text", "button", "command", "start", "contact" or "other"
    text: str = ""
    data: str = ""
    contact_user_id: int | None = None  # a shared contact: whose it is, and its phone
    phone: str = ""


@dataclass(frozen=True)
class Outcome:
    """The debtor this chat belongs to (if known) and what to send back."""

    debtor_id: int | None
    messages: list[OutMessage]


@dataclass(frozen=True)
class Settings:
    """What flows need from the process settings."""

    creditor: str
    payment_url_template: str


@dataclass
class Turn:
    """One input being answered: the debtor, their state, and the replies so far."""

    session: AsyncSession
    debtor: Debtor
    state: DialogueState
    now: datetime
    policy: Policy
    settings: Settings
    replies: list[OutMessage] = field(default_factory=list)
    # Set by a flow that ended in an agreement: the menu goes under its last message.
    menu_after: bool = False

    @property
    def _(self) -> Callable[..., str]:
        """Translate a short UI string into the debtor's language."""
        return translator(self.debtor.locale)

    @property
    def today(self) -> date:
        """The debtor's local date."""
        return self.now.astimezone(ZoneInfo(self.debtor.timezone)).date()

    def money(self, minor: int, currency: str) -> str:
        """An amount in the debtor's locale."""
        return format_money(minor, currency, self.debtor.locale)

    def other_currency(self, marks: list[str], currency: str) -> str | None:
        """What to say when an amount was written with (``parsing.currency_marks``) a currency
        other than the account's; None when it was not."""
        locale = self.debtor.locale
        if all(fits_currency(mark, currency, locale) for mark in marks):
            return None
        name = get_currency_name(currency, count=2, locale=locale)
        return self._(labels.AMOUNT_OTHER_CURRENCY, currency=f"{name} ({currency})")

    def date_text(self, day: date) -> str:
        """A date in the debtor's locale."""
        return format_date(day, "long", locale=self.debtor.locale)

    def say(self, text: str, buttons: list[list[Button]] | None = None, **kw: Any) -> None:
        """Reply with a short UI line (already translated)."""
        self.replies.append(OutMessage(text, buttons or [], kind="reply", **kw))

    async def say_template(
        self, key: str, buttons: list[list[Button]] | None = None, **context: Any
    ) -> None:
        """Reply with a message template in the debtor's language."""
        rendered = await render(
            self.session,
            key,
            self.debtor.locale,
            {
                "creditor": self.settings.creditor,
                "first_name": greeting_name(self.debtor.full_name),
                **context,
            },
        )
        self.replies.append(
            OutMessage(
                rendered.text, buttons or [], kind="reply", template_key=key,
                template_version=rendered.version,
                template_locale=rendered.locale,
            )
        )  # fmt: skip

    def offer_menu(self) -> None:
        """End this turn with the menu under its last message: a promise, a plan or a pause is
        agreed, and the debtor should have the next step in reach. Not after a dispute, a
        complaint, a death or a request for a person: buttons to pay would read as pressure
        there, or disclose the debt to someone else."""
        self.menu_after = True

    def goto(self, flow: str | None, step: str | None, **data: Any) -> None:
        """Move to a step (``flow=None`` leaves any flow); ``data`` replaces the flow data."""
        move(self.state, flow, step, self.now, **data)

    async def home(self) -> None:
        """Reply with the summary and the menu."""
        self.replies.append(
            await home_message(
                self.session, self.debtor, creditor=self.settings.creditor,
                payment_url_template=self.settings.payment_url_template,
            )
        )  # fmt: skip

    async def not_started(self) -> None:
        """Say why a flow could not begin: nothing is owed, or too little to spread."""
        owed = await self.open_accounts()
        self.say(self._(labels.PLAN_TOO_SMALL if owed else labels.NOTHING_OWED))
        if owed:
            await self.home()

    def button(self, label: str, action: str) -> Button:
        """A button bound to the current step: ``<action>|<version>`` (≤ 64 bytes)."""
        data = f"{action}|{self.state.version}"
        assert len(data.encode()) <= 64, data
        return Button(label, data=data)

    def cancel_row(self) -> list[Button]:
        """The Cancel button every flow step offers."""
        return [self.button(self._(labels.CANCEL), "cancel")]

    async def open_accounts(self) -> list[Account]:
        """The debtor's open, owed accounts, most overdue first."""
        return await open_accounts(self.session, self.debtor.id)


class FlowGone(Exception):
    """The account a flow is about was paid, closed or taken away meanwhile: the flow ends."""


async def flow_account(turn: Turn) -> Account:
    """The open, owed account the chat's flow is about; ``FlowGone`` if it no longer is."""
    account_id = turn.state.data.get("account_id")
    account = await turn.session.get(Account, account_id) if account_id is not None else None
    if account is None or account.debtor_id != turn.debtor.id or not account.owed:
        raise FlowGone
    return account


async def template_message(
    session: AsyncSession,
    key: str,
    locale: str | None,
    creditor: str,
    *,
    reply_keyboard: ReplyKeyboard | None = None,
    **context: Any,
) -> OutMessage:
    """A message template in ``locale`` with only the creditor and ``context`` filled in (for
    chats not verified yet, and for whoever writes after a stop)."""
    rendered = await render(session, key, locale, {"creditor": creditor, **context})
    return OutMessage(
        rendered.text, [], reply_keyboard, kind="reply", template_key=key,
        template_version=rendered.version,
        template_locale=rendered.locale,
    )  # fmt: skip


def move(
    state: DialogueState, flow: str | None, step: str | None, now: datetime, **data: Any
) -> None:
    """Put a chat at a step (``flow=None`` leaves any flow); every move bumps the version."""
    state.flow, state.step = flow, step
    state.data = data if flow else {}
    state.version = (state.version or 0) + 1
    state.updated_at = now


# Built once (every update of a chat with a debtor runs it).
_STATE = (
    select(DialogueState)
    .where(
        DialogueState.channel == bindparam("channel"),
        DialogueState.chat_id == bindparam("chat_id"),
    )
    .with_for_update()
)


async def load_state(
    session: AsyncSession, channel: str, chat_id: int, debtor_id: int, now: datetime
) -> DialogueState:
    """The chat's state row for ``debtor_id``, locked for this transaction (created on first
    use)."""
    found = await session.execute(_STATE, {"channel": channel, "chat_id": chat_id})
    state = found.scalar_one_or_none()
    if state is not None and state.debtor_id != debtor_id:
        # A row written before the chat was linked to this debtor follows the link.
        state.debtor_id = debtor_id
    if state is None:
        state = DialogueState(
            channel=channel, chat_id=chat_id, debtor_id=debtor_id, data={}, version=0,
            unrecognised_count=0, updated_at=now,
        )  # fmt: skip
        session.add(state)
        await session.flush()
    return state


def split_data(data: str) -> tuple[str, int | None]:
    """``"p:date:3|17"`` → (``"p:date:3"``, 17); data without a version → (data, None)."""
    action, sep, version = data.rpartition("|")
    if not sep or not (version.isascii() and version.isdigit()):
        return data, None
    return action, int(version)


def arg_int(action: str, prefix: str) -> int | None:
    """The integer after ``prefix`` in a button's data, or None if it is not one."""
    rest = action.removeprefix(prefix)
    return int(rest) if rest.isascii() and rest.isdigit() and len(rest) < 19 else None


def arg_date(action: str, prefix: str) -> date | None:
    """The ISO date after ``prefix`` in a button's data, or None if it is not one."""
    try:
        return date.fromisoformat(action.removeprefix(prefix))
    except ValueError:
        return None


def idle_for(state: DialogueState, now: datetime, policy: Policy) -> bool:
    """Whether a flow was left longer than the policy allows."""
    return bool(
        state.flow
        and state.updated_at is not None
        and now - state.updated_at > timedelta(minutes=policy.dialogues.idle_minutes)
    )

"""python-telegram-bot handlers: thin callbacks that hand each update to the domain.

Every update is logged first (group -1). Updates of one chat are handled one at a time in this
process; each runs in one database transaction, and replies go out after it commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import (
    Application,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.channels.base import ChannelUnreachable, ReplyKeyboard
from bot.channels.telegram.sender import CHANNEL, TelegramSender
from bot.compliance.optout import is_stop_request
from bot.compliance.records import audit, log_inbound
from bot.db.models import Debtor
from bot.dialogues.engine import Input
from bot.dialogues.router import Dialogues
from bot.linking.verify import Chat, Linking, Outcome

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What handlers need, built once per process."""

    sessions: async_sessionmaker[AsyncSession]
    linking: Linking
    dialogues: Dialogues
    sender: TelegramSender
    clock: Callable[[], datetime]
    chat_locks: defaultdict[int, asyncio.Lock]


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """Our callback context: typed access to the process's services."""

    @property
    def services(self) -> Services:
        """The services of this process."""
        return self.application.bot_data["services"]


def _chat(update: Update) -> Chat:
    user = update.effective_user
    return Chat(
        channel=CHANNEL,
        chat_id=update.effective_chat.id,
        user_id=user.id if user else None,
        language_code=user.language_code if user else None,
    )


Step = Callable[[AsyncSession, Chat, datetime], Awaitable[Outcome | None]]
COMMANDS = ("menu", "cancel", "promise", "language", "balance")
# Longer messages are answered, but only their beginning is read (Telegram allows 4096).
MAX_TEXT = 1000


async def _handle(update: Update, context: BotContext, step: Step) -> None:
    """Run one domain step in a transaction (retried once on a lost race), then reply."""
    services, chat = context.services, _chat(update)
    async with services.chat_locks[chat.chat_id]:
        for attempt in (1, 2):
            try:
                async with services.sessions.begin() as s:
                    outcome = await step(s, chat, services.clock())
                break
            except IntegrityError:
                # Another process handled this chat's previous update at the same moment.
                if attempt == 2:
                    raise
        if outcome is None:
            return
        # Only the contact-sharing keyboard has labels to translate here.
        needs_locale = any(
            m.reply_keyboard is ReplyKeyboard.SHARE_CONTACT for m in outcome.messages
        )
        locale = await _locale_of(services, outcome.debtor_id, chat) if needs_locale else None
        for message in outcome.messages:
            try:
                await services.sender.send(
                    chat.chat_id, message, debtor_id=outcome.debtor_id, locale=locale
                )
            except ChannelUnreachable:
                return


async def _locale_of(services: Services, debtor_id: int | None, chat: Chat) -> str | None:
    if debtor_id is None:
        return chat.language_code
    async with services.sessions() as s:
        debtor = await s.get(Debtor, debtor_id)
        return debtor.locale if debtor else chat.language_code


async def record_update(update: Update, context: BotContext) -> None:
    """Log every incoming message, contact and button press in the contact log."""
    message, query = update.effective_message, update.callback_query
    if update.effective_chat is None:
        return
    if query is not None:
        kind, text, message_id = "callback", query.data, None
    elif message is not None and message.contact is not None:
        phone = message.contact.phone_number or ""
        own = message.contact.user_id == (update.effective_user and update.effective_user.id)
        kind = "contact"
        text = f"[{'own' if own else 'other'} contact ending {phone[-2:]}]"
        message_id = message.message_id
    elif message is not None:
        is_command = bool(message.text and message.text.startswith("/"))
        kind = "command" if is_command else ("text" if message.text else "other")
        text, message_id = message.text, message.message_id
    else:
        return
    services, chat = context.services, _chat(update)
    async with services.sessions.begin() as s:
        link = await services.linking.link_of(s, chat)
        now = services.clock()
        log_inbound(
            s, channel=CHANNEL, chat_id=chat.chat_id, debtor_id=link.debtor_id if link else None,
            kind=kind, text=text, message_id=message_id, at=now,
        )  # fmt: skip
        if link is not None and link.unreachable_at is not None:
            link.unreachable_at, link.unreachable_reason = None, None
            audit(s, link.debtor_id, "chat_reachable_again", actor="debtor", at=now)


async def on_start(update: Update, context: BotContext) -> None:
    """/start, with a deep-link token or without."""
    payload = context.args[0] if context.args else ""
    linking = context.services.linking
    await _handle(update, context, lambda s, chat, now: linking.start(s, chat, payload, now))


async def on_stop(update: Update, context: BotContext) -> None:
    """/stop: no more proactive messages, confirmed at once."""
    linking = context.services.linking
    await _handle(update, context, lambda s, chat, now: linking.stop(s, chat, now, via="/stop"))


async def on_contact(update: Update, context: BotContext) -> None:
    """A shared contact: the identity check."""
    contact = update.effective_message.contact
    linking = context.services.linking
    await _handle(
        update,
        context,
        lambda s, chat, now: linking.contact(s, chat, contact.user_id, contact.phone_number, now),
    )


def _converse(services: Services, inp: Input) -> Step:
    """A step that answers a verified chat through the dialogues, anyone else through linking."""

    async def step(s: AsyncSession, chat: Chat, now: datetime) -> Outcome | None:
        link = await services.linking.link_of(s, chat)
        if link is None or link.verified_at is None:
            if inp.kind == "text":
                return await services.linking.text(s, chat, inp.text, now)
            return await services.linking.unverified_prompt(s, chat, now)
        messages = await services.dialogues.handle(
            s, channel=chat.channel, chat_id=chat.chat_id, debtor_id=link.debtor_id, inp=inp,
            now=now,
        )  # fmt: skip
        return Outcome(link.debtor_id, messages)

    return step


async def on_text(update: Update, context: BotContext) -> None:
    """Free text: STOP at any time; a verification answer; else the conversation."""
    text = update.effective_message.text or ""
    services = context.services
    if is_stop_request(text):
        await _handle(
            update, context, lambda s, chat, now: services.linking.stop(s, chat, now, via="text")
        )
        return
    await _handle(update, context, _converse(services, Input("text", text=text[:MAX_TEXT])))


async def on_callback(update: Update, context: BotContext) -> None:
    """A button press: answered at once, then handled like any other input."""
    query = update.callback_query
    await query.answer()
    await _handle(
        update, context, _converse(context.services, Input("button", data=query.data or ""))
    )


async def on_command(update: Update, context: BotContext) -> None:
    """/menu, /cancel, /promise, /language, /balance."""
    name = (update.effective_message.text or "/").split()[0][1:].split("@")[0].lower()
    await _handle(update, context, _converse(context.services, Input("command", text=name)))


async def on_other(update: Update, context: BotContext) -> None:
    """Stickers, photos, unknown commands: a polite pointer to what works."""
    await _handle(update, context, _converse(context.services, Input("command", text="menu")))


def install(application: Application) -> None:
    """Register every handler; the order is the routing table."""
    application.add_handler(TypeHandler(Update, record_update), group=-1)
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CommandHandler("stop", on_stop))
    application.add_handler(CommandHandler(COMMANDS, on_command))
    application.add_handler(MessageHandler(filters.CONTACT, on_contact))
    application.add_handler(CallbackQueryHandler(on_callback))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    application.add_handler(MessageHandler(filters.ALL, on_other))

"""python-telegram-bot handlers: thin callbacks that hand each update to the domain.

Every update is logged in the same transaction that handles it, and the replies are stored in
it too. Updates of one chat are handled one at a time in this process; replies go out after
the transaction commits (see bot/conversation/replies.py for one whose process stops first).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, Update
from telegram.ext import (
    Application,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ExtBot,
    MessageHandler,
    filters,
)

from bot import labels
from bot.channel import Chat, OutMessage, ReplyKeyboard
from bot.channels.telegram.sender import CHANNEL, TelegramSender
from bot.compliance.optout import is_stop_request
from bot.compliance.records import audit, log_inbound
from bot.conversation import replies
from bot.db.engine import retrying
from bot.db.models import ChannelLink, Debtor
from bot.dialogues import registry
from bot.dialogues.engine import Input, Outcome
from bot.dialogues.router import Dialogues
from bot.i18n import translator

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What handlers need, built once per process."""

    sessions: async_sessionmaker[AsyncSession]
    dialogues: Dialogues
    sender: TelegramSender
    clock: Callable[[], datetime]
    chat_locks: defaultdict[int, asyncio.Lock]
    # update_id → set once that update's turn has committed (or failed); the poller waits on
    # these before confirming a batch to Telegram, not on the sending of the replies.
    turns: dict[int, asyncio.Future[None]] = field(default_factory=dict)


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """Our callback context: typed access to the process's services."""

    @property
    def services(self) -> Services:
        """The services of this process."""
        return self.application.bot_data["services"]


def read_update(payload: object, bot: Bot) -> Update | None:
    """An update as Telegram sent it, read; None for one python-telegram-bot cannot read (a
    Bot API change it does not know yet), which is logged by its id alone: it holds what a
    person wrote."""
    try:
        return Update.de_json(payload, bot)
    except Exception as exc:
        update_id = payload.get("update_id") if isinstance(payload, dict) else None
        log.error("update %s could not be read (%s) and is skipped", update_id, type(exc).__name__)
        return None


def _chat(update: Update) -> Chat:
    user = update.effective_user
    return Chat(
        channel=CHANNEL,
        chat_id=update.effective_chat.id,
        user_id=user.id if user else None,
        language_code=user.language_code if user else None,
    )


Step = Callable[[AsyncSession, Chat, ChannelLink | None, datetime], Awaitable[Outcome | None]]
COMMANDS = tuple(c.name for c in registry.commands() if c.name not in ("start", "stop"))
# Longer messages are answered, but only their beginning is read (Telegram allows 4096).
MAX_TEXT = 1000


@dataclass(frozen=True)
class Heard:
    """What the person sent, as the contact log keeps it."""

    update_id: int
    kind: str  # "text", "command", "callback", "contact" or "other"
    text: str | None
    message_id: int | None


def _heard(update: Update) -> Heard | None:
    message, query = update.effective_message, update.callback_query
    if query is not None:
        return Heard(update.update_id, "callback", query.data, None)
    if message is None:
        return None
    if message.contact is not None:
        # Only the last two digits of a shared phone number are kept.
        phone = message.contact.phone_number or ""
        own = message.contact.user_id == (update.effective_user and update.effective_user.id)
        text = f"[{'own' if own else 'other'} contact ending {phone[-2:]}]"
        return Heard(update.update_id, "contact", text, message.message_id)
    kind = "command" if message.text and message.text.startswith("/") else "text"
    return Heard(
        update.update_id, kind if message.text else "other", message.text, message.message_id
    )


async def _record(
    s: AsyncSession, chat: Chat, link: ChannelLink | None, heard: Heard, now: datetime
) -> bool:
    """Log what was heard (False if it was already); a person writing again makes an
    unreachable chat reachable."""
    new = await log_inbound(
        s, channel=CHANNEL, chat_id=chat.chat_id, debtor_id=link.debtor_id if link else None,
        kind=heard.kind, text=heard.text, message_id=heard.message_id,
        update_id=heard.update_id, at=now,
    )  # fmt: skip
    if new and link is not None and link.unreachable_at is not None:
        link.unreachable_at, link.unreachable_reason = None, None
        audit(s, link.debtor_id, "chat_reachable_again", actor="debtor", at=now)
    return new


@dataclass(frozen=True)
class Answer:
    """A committed turn's replies, stored and waiting to be sent."""

    debtor_id: int | None
    replies: list[replies.Pending]


async def _turn(services: Services, chat: Chat, heard: Heard | None, step: Step) -> Answer | None:
    """Log the update, run the step and store its replies in one transaction; run again if
    another process took a unique key of this chat at the same moment, or the database
    dropped the connection.

    An update on record already was handled (or is being handled) by this or another process:
    Telegram delivered it again after an answer it did not get. It is not answered twice.
    """

    async def work(s: AsyncSession) -> Answer | None:
        now = services.clock()
        link = await services.dialogues.link_of(s, chat)
        if heard is not None and not await _record(s, chat, link, heard, now):
            log.info("update %d delivered again; it was handled once already", heard.update_id)
            return None
        outcome = await step(s, chat, link, now)
        if outcome is None:
            return None
        stored = await replies.queue(
            s, channel=CHANNEL, chat_id=chat.chat_id, debtor_id=outcome.debtor_id,
            messages=outcome.messages, locale=await _keyboard_locale(s, outcome, chat), at=now,
        )  # fmt: skip
        return Answer(outcome.debtor_id, stored)

    return await retrying(services.sessions, work, also=(IntegrityError,))


async def _keyboard_locale(s: AsyncSession, outcome: Outcome, chat: Chat) -> str | None:
    """The language of the contact-sharing keyboard's labels, the only ones translated here."""
    if not any(m.reply_keyboard is ReplyKeyboard.SHARE_CONTACT for m in outcome.messages):
        return None
    debtor = await s.get(Debtor, outcome.debtor_id) if outcome.debtor_id else None
    return debtor.locale if debtor else chat.language_code


async def _handle(update: Update, context: BotContext, step: Step) -> None:
    """Run one domain step in a transaction, then reply; a failure gets an apology."""
    services, chat, heard = context.services, _chat(update), _heard(update)
    async with services.chat_locks[chat.chat_id]:
        try:
            answer = await _turn(services, chat, heard, step)
        except Exception:
            # Nothing about the person or the update goes to the log, only where it failed.
            log.exception("an update could not be handled; the person was asked to retry")
            await _apologise(services, chat, heard)
            return
        finally:
            committed = services.turns.get(update.update_id)
            if committed is not None and not committed.done():
                committed.set_result(None)
        if answer is not None:
            await replies.deliver(
                services.sender, services.sessions, chat.chat_id, answer.debtor_id, answer.replies
            )


async def _apologise(services: Services, chat: Chat, heard: Heard | None) -> None:
    """Keep the record of what was sent if the database allows, and ask to try again."""
    debtor_id, locale = None, chat.language_code
    try:
        async with services.sessions.begin() as s:
            link = await services.dialogues.link_of(s, chat)
            if link is not None:
                debtor_id, locale = link.debtor_id, link.debtor.locale
            if heard is not None:
                await _record(s, chat, link, heard, services.clock())
    except Exception:
        log.warning("an update could not be recorded either; the database may be unavailable")
    sorry = OutMessage(translator(locale)(labels.TRY_AGAIN), kind="reply")
    try:
        await services.sender.send(chat.chat_id, sorry, debtor_id=debtor_id)
    except Exception:
        log.warning("the apology could not be sent or recorded")


async def on_start(update: Update, context: BotContext) -> None:
    """/start, with a deep-link token or without."""
    payload = context.args[0] if context.args else ""
    await _handle(update, context, _converse(context.services, Input("start", text=payload)))


async def on_stop(update: Update, context: BotContext) -> None:
    """/stop: no more proactive messages, confirmed at once."""
    dialogues = context.services.dialogues
    await _handle(
        update, context, lambda s, chat, link, now: dialogues.stop(s, chat, link, now, via="/stop")
    )


async def on_contact(update: Update, context: BotContext) -> None:
    """A shared contact: the identity check."""
    contact = update.effective_message.contact
    inp = Input("contact", contact_user_id=contact.user_id, phone=contact.phone_number)
    await _handle(update, context, _converse(context.services, inp))


def _converse(services: Services, inp: Input) -> Step:
    """A step that answers the input through the dialogues."""

    def step(s: AsyncSession, chat: Chat, link: ChannelLink | None, now: datetime):
        return services.dialogues.answer(s, chat, link, inp, now)

    return step


async def on_text(update: Update, context: BotContext) -> None:
    """Free text: STOP at any time; a verification answer; else the conversation."""
    text = update.effective_message.text or ""
    services = context.services
    if is_stop_request(text):
        await _handle(
            update,
            context,
            lambda s, chat, link, now: services.dialogues.stop(s, chat, link, now, via="text"),
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
    """/menu, /balance, /promise, /plan, /person, /language, /cancel."""
    name = (update.effective_message.text or "/").split()[0][1:].split("@")[0].lower()
    await _handle(update, context, _converse(context.services, Input("command", text=name)))


async def on_other(update: Update, context: BotContext) -> None:
    """Stickers, photos, unknown commands: a polite pointer to what works."""
    await _handle(update, context, _converse(context.services, Input("other")))


async def on_error(update: object, context: BotContext) -> None:
    """What escaped a handler (a reply that could not be sent or recorded): logged without the
    update, which holds what a person wrote."""
    log.error("an update's handling failed", exc_info=context.error)


def install(application: Application) -> None:
    """Register every handler; the order is the routing table."""
    application.add_error_handler(on_error)
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CommandHandler("stop", on_stop))
    application.add_handler(CommandHandler(COMMANDS, on_command))
    application.add_handler(MessageHandler(filters.CONTACT, on_contact))
    application.add_handler(CallbackQueryHandler(on_callback))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    application.add_handler(MessageHandler(filters.ALL, on_other))

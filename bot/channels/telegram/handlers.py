"""python-telegram-bot handlers: each update, translated, goes to the conversation pipeline.

Nothing here decides anything: an ``Update`` becomes an ``Inbound`` (who wrote, what they did,
what the contact log keeps), and bot/conversation/pipeline.py records, answers and replies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ExtBot,
    MessageHandler,
    filters,
)

from bot.channel import Chat
from bot.channels.telegram.sender import CHANNEL, TelegramSender
from bot.conversation.pipeline import Conversations, Heard, Inbound
from bot.dialogues import registry
from bot.dialogues.engine import Input
from bot.metrics import Metrics

log = logging.getLogger(__name__)
# The commands the dialogues answer (the command menu lists these, /start and /stop).
COMMANDS = tuple(c.name for c in registry.commands() if c.name not in ("start", "stop"))


@dataclass
class Services:
    """What handlers need, built once per process."""

    conversations: Conversations
    sender: TelegramSender
    metrics: Metrics = field(default_factory=Metrics)
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


def _heard(update: Update) -> Heard | None:
    message, query = update.effective_message, update.callback_query
    if query is not None:
        return Heard("callback", query.data, None)
    if message is None:
        return None
    if message.contact is not None:
        # Only the last two digits of a shared phone number are kept.
        phone = message.contact.phone_number or ""
        own = message.contact.user_id == (update.effective_user and update.effective_user.id)
        return Heard("contact", f"[{'own' if own else 'other'} contact ending {phone[-2:]}]",
                     message.message_id)  # fmt: skip
    kind = "command" if message.text and message.text.startswith("/") else "text"
    return Heard(kind if message.text else "other", message.text, message.message_id)


async def _handle(update: Update, context: BotContext, inp: Input) -> None:
    """Hand the update to the pipeline; tell the poller once its turn has committed."""
    services = context.services
    started = time.perf_counter()

    def committed() -> None:
        services.metrics.turn_seconds.observe(time.perf_counter() - started)
        turn = services.turns.get(update.update_id)
        if turn is not None and not turn.done():
            turn.set_result(None)

    inbound = Inbound(_chat(update), inp, update.update_id, _heard(update))
    services.metrics.updates.labels("telegram").inc()
    outcome = await services.conversations.handle(inbound, committed=committed)
    services.metrics.turns.labels(outcome).inc()


async def on_start(update: Update, context: BotContext) -> None:
    """/start, with a deep-link token or without."""
    await _handle(update, context, Input("start", text=context.args[0] if context.args else ""))


async def on_command(update: Update, context: BotContext) -> None:
    """Any other /command (``/menu@our_bot`` reads as ``menu``)."""
    name = (update.effective_message.text or "/").split()[0][1:].split("@")[0].lower()
    await _handle(update, context, Input("command", text=name))


async def on_contact(update: Update, context: BotContext) -> None:
    """A shared contact: the identity check."""
    contact = update.effective_message.contact
    inp = Input("contact", contact_user_id=contact.user_id, phone=contact.phone_number)
    await _handle(update, context, inp)


async def on_text(update: Update, context: BotContext) -> None:
    """Free text."""
    await _handle(update, context, Input("text", text=update.effective_message.text or ""))


async def on_callback(update: Update, context: BotContext) -> None:
    """A button press: answered at once, then handled like any other input; then the pressed
    message loses its buttons, as they are answered (a press that still arrives from another
    device is told that things have changed)."""
    query = update.callback_query
    await query.answer()
    await _handle(update, context, Input("button", data=query.data or ""))
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError as exc:
        # Gone, too old to edit, or its buttons removed already: nothing to undo.
        log.info("the pressed message keeps its buttons (%s)", type(exc).__name__)


async def on_other(update: Update, context: BotContext) -> None:
    """Stickers, photos and the like."""
    await _handle(update, context, Input("other"))


async def on_error(update: object, context: BotContext) -> None:
    """What escaped a handler (a reply that could not be sent or recorded): logged without the
    update, which holds what a person wrote."""
    log.error("an update's handling failed", exc_info=context.error)


def install(application: Application) -> None:
    """Register every handler; the order is the routing table."""
    application.add_error_handler(on_error)
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(MessageHandler(filters.COMMAND, on_command))
    application.add_handler(MessageHandler(filters.CONTACT, on_contact))
    application.add_handler(CallbackQueryHandler(on_callback))
    application.add_handler(MessageHandler(filters.TEXT, on_text))
    application.add_handler(MessageHandler(filters.ALL, on_other))

"""Sending domain OutMessages through python-telegram-bot, with every send in the contact log."""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import labels
from bot.channel import (
    ChannelUnreachable,
    Delivery,
    Handover,
    OutMessage,
    PermanentSendError,
    ReplyKeyboard,
    TransientSendError,
    Withdrawn,
)
from bot.compliance.recorder import OutboundRecorder, Written
from bot.compliance.records import outbound_row, outcome_of
from bot.conversation.watched import AGENT, announce, announced
from bot.db.base import utcnow
from bot.db.models import ChannelLink
from bot.db.workers import WorkerLease
from bot.i18n import translator
from bot.metrics import Metrics

log = logging.getLogger(__name__)
CHANNEL = "telegram"

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


def to_markup(message: OutMessage, locale: str | None) -> Markup:
    """The Telegram keyboard for a message (inline buttons win over a reply keyboard)."""
    if message.buttons:
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(b.label, url=b.url)
                    if b.url
                    else InlineKeyboardButton(b.label, callback_data=b.data)
                    for b in row
                ]
                for row in message.buttons
            ]
        )
    if message.reply_keyboard is ReplyKeyboard.SHARE_CONTACT:
        _ = translator(locale)
        return ReplyKeyboardMarkup(
            [
                [KeyboardButton(_(labels.SHARE_CONTACT), request_contact=True)],
                [KeyboardButton(_(labels.ANSWER_QUESTION))],
            ],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if message.reply_keyboard is ReplyKeyboard.REMOVE:
        return ReplyKeyboardRemove()
    return None


class TelegramSender:
    """Delivers messages to chats and records each attempt; a block marks the link unreachable."""

    channel = CHANNEL

    def __init__(
        self,
        bot: Bot,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime] = utcnow,
        lease: WorkerLease | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.clock = clock
        self.lease = lease or WorkerLease(sessions)
        self.metrics = metrics or Metrics()
        self.recorder = OutboundRecorder(sessions, on_write=self._announce)

    async def send(
        self,
        chat_id: int,
        message: OutMessage,
        *,
        debtor_id: int | None = None,
        locale: str | None = None,
        log_id: int | None = None,
        handover: Handover | None = None,
    ) -> Delivery:
        """Send one message and log it (in its stored row ``log_id``, if it has one); raise a
        SendError saying whether to retry. ``handover`` is begun by the rate limiter, after
        its wait, as the request starts."""
        started = time.perf_counter()
        outcome = "error"
        try:
            delivery = await self._send(chat_id, message, debtor_id, locale, log_id, handover)
            outcome = "sent"
            return delivery
        except ChannelUnreachable:
            outcome = "blocked"
            raise
        except PermanentSendError:
            outcome = "refused"
            raise
        except TransientSendError:
            outcome = "failed"
            raise
        except Withdrawn:
            outcome = "taken_over"
            raise
        finally:
            self.metrics.send_seconds.observe(time.perf_counter() - started)
            self.metrics.sent.labels(message.kind, outcome).inc()

    async def _send(
        self,
        chat_id: int,
        message: OutMessage,
        debtor_id: int | None,
        locale: str | None,
        log_id: int | None,
        handover: Handover | None,
    ) -> Delivery:
        text, parse_mode = message.text, ParseMode.HTML
        if message.kind == AGENT:
            # A person's words go as they wrote them, read as nothing but text; the contact log
            # keeps them escaped into HTML like every message out.
            text, parse_mode = html.unescape(text), None
        try:
            sent = await self.bot.send_message(
                chat_id,
                text,
                parse_mode=parse_mode,
                reply_markup=to_markup(message, locale),
                rate_limit_args=handover,
            )
        except Withdrawn:
            raise  # nothing was sent, and the row is another process's now
        except SQLAlchemyError as exc:
            # The hand-over could not be written, so nothing was sent.
            raise TransientSendError(f"database: {type(exc).__name__}") from exc
        except Forbidden as exc:
            await self._record(
                chat_id, message, debtor_id, log_id, None, f"forbidden: {exc.message}"
            )
            await self.mark_unreachable(chat_id, exc.message)
            raise ChannelUnreachable(exc.message) from exc
        except BadRequest as exc:
            await self._record(
                chat_id, message, debtor_id, log_id, None, f"bad request: {exc.message}"
            )
            raise PermanentSendError(exc.message) from exc
        except TelegramError as exc:
            # Network errors, timeouts, 5xx, and a 429 the rate limiter gave up on.
            await self._record(
                chat_id, message, debtor_id, log_id, None, f"{type(exc).__name__}: {exc}"
            )
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc
        log_id = await self._record(chat_id, message, debtor_id, log_id, sent.message_id, None)
        return Delivery(sent.message_id, log_id)

    async def _announce(self, s: AsyncSession, recorded: Written, settled: Written) -> None:
        """The agent console's events of what was just recorded, in the same transaction."""
        await announce(s, recorded, settled, now=self.clock())

    async def mark_unreachable(self, chat_id: int, reason: str) -> None:
        """Never message this chat again until the person writes to us."""
        async with self.sessions.begin() as s:
            await s.execute(
                update(ChannelLink)
                .where(ChannelLink.channel == CHANNEL, ChannelLink.chat_id == chat_id)
                .where(ChannelLink.unreachable_at.is_(None))
                .values(unreachable_at=self.clock(), unreachable_reason=reason[:200])
            )
        log.info("telegram chat marked unreachable: %s", reason)

    async def _record(
        self,
        chat_id: int,
        message: OutMessage,
        debtor_id: int | None,
        log_id: int | None,
        message_id: int | None,
        error: str | None,
    ) -> int:
        now = self.clock()
        outcome = outcome_of(message_id, error, now)
        if log_id is not None:
            return await self.recorder.settle(log_id, outcome, announce=announced(message))
        row = outbound_row(
            channel=CHANNEL,
            chat_id=chat_id,
            debtor_id=debtor_id,
            message=message,
            at=now,
            outcome=outcome,
        )
        return await self.recorder.record(row)

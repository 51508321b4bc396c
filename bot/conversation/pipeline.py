"""The turn of a conversation, the same for every channel: what a person sent, answered once.

A channel adapter turns what its platform delivered into an :class:`Inbound` and hands it to
:meth:`Conversations.handle`, which, in one transaction:

1. records it in the contact log under the channel's own id for that delivery, so a delivery
   the channel repeats (a lost acknowledgement, a second process) is answered once;
2. honours an opt-out ("STOP", ``/stop``, 退订 …) before anything else, whoever owns the chat;
3. lets the owner of the conversation answer: the bot's dialogues (verification first, then
   the flows), or, once an agent has claimed the debtor's ticket, nobody: the relay
   (bot/conversation/relay.py) keeps the bot silent and the agent answers from the console;
4. stores the replies as pending contact-log rows, with a console event for each row of a
   debtor whose ticket is not resolved.

Once it commits, the replies are sent in order (bot/conversation/replies.py covers a process
that stops first). A failure on our side gets an apology in the person's language, and what
they sent is still recorded when the database allows.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import labels
from bot.channel import Chat, OutMessage, ReplyKeyboard, Sender
from bot.compliance.optout import is_stop_request, opt_out
from bot.compliance.records import audit, log_inbound
from bot.conversation import relay, replies
from bot.db.engine import retrying
from bot.db.models import ChannelLink, Debtor
from bot.dialogues.engine import Input, Outcome, template_message
from bot.i18n import translator

log = logging.getLogger(__name__)
# Longer messages are answered, but only their beginning is read (Telegram allows 4096).
MAX_TEXT = 1000


@dataclass(frozen=True)
class Heard:
    """What the person sent, as the contact log keeps it."""

    kind: str  # "text", "command", "callback", "contact" or "other"
    text: str | None
    message_id: int | None


@dataclass(frozen=True)
class Inbound:
    """One thing a person did in a chat, as any channel reports it."""

    chat: Chat
    input: Input
    # The channel's own id of this delivery (Telegram's update_id); None when it has none.
    delivery_id: int | None = None
    heard: Heard | None = None


class Owner(Protocol):
    """The bot's answers to a chat (the relay silences them while an agent owns it)."""

    async def link_of(self, s: AsyncSession, chat: Chat) -> ChannelLink | None:
        """The chat's link to a debtor, with the debtor loaded."""
        ...

    async def answer(
        self, s: AsyncSession, chat: Chat, link: ChannelLink | None, inp: Input, now: datetime
    ) -> Outcome | None:
        """What to say to ``inp``, inside the caller's transaction."""
        ...


@dataclass(frozen=True)
class Answer:
    """A committed turn's replies, stored and waiting to be sent."""

    debtor_id: int | None
    replies: list[replies.Pending]
    # Consoles watch this chat (its debtor has a ticket): they hear of each delivery too.
    watched: bool = False


# A delivery on record already: handled once, not answered again.
_REPEAT = Answer(None, [])


class Conversations:
    """Answers every inbound message of every channel; one instance per process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bot: Owner,
        senders: Mapping[str, Sender],
        clock: Callable[[], datetime],
        creditor: str,
    ) -> None:
        self.sessions, self.bot, self.senders, self.clock = sessions, bot, senders, clock
        self.creditor = creditor
        # Turns of one chat go one at a time in this process (the database orders processes).
        self._chat_locks: defaultdict[tuple[str, int], asyncio.Lock] = defaultdict(asyncio.Lock)

    async def handle(
        self, inbound: Inbound, *, committed: Callable[[], None] | None = None
    ) -> str:
        """Answer one inbound message; ``committed`` is called once its turn has committed
        (or failed), before the replies are sent. Returns how the turn went: ``answered``,
        ``silent`` (nothing to say), ``repeat`` (delivered before) or ``failed`` (the person
        was asked to try again)."""
        chat = inbound.chat
        async with self._chat_locks[(chat.channel, chat.chat_id)]:
            try:
                answer = await self._turn(inbound)
            except Exception:
                # Nothing about the person or the message goes to the log, only where it failed.
                log.exception("an update could not be handled; the person was asked to retry")
                await self._apologise(inbound)
                return "failed"
            finally:
                if committed is not None:
                    committed()
            if answer is _REPEAT:
                return "repeat"
            if answer is None or not answer.replies:
                return "silent"
            await replies.deliver(
                self.senders[chat.channel], self.sessions, chat.chat_id, answer.debtor_id,
                answer.replies, watched=answer.watched,
            )  # fmt: skip
            return "answered"

    async def _turn(self, inbound: Inbound) -> Answer | None:
        """Record, answer and store the replies in one transaction; run again if another
        process took a unique key of this chat at the same moment, or the database dropped the
        connection. A delivery on record already was handled (or is being handled) by this or
        another process, and is not answered twice."""
        chat, inp = inbound.chat, inbound.input

        async def work(s: AsyncSession) -> Answer | None:
            now = self.clock()
            link = await self.bot.link_of(s, chat)
            log_id = None
            if inbound.heard is not None:
                log_id = await self._record(s, inbound, link, now)
                if log_id is None:
                    log.info(
                        "update %s delivered again; it was handled once already",
                        inbound.delivery_id,
                    )
                    return _REPEAT
            ticket = await relay.ticket_of(s, link)
            if ticket is not None and log_id is not None:
                relay.heard(s, ticket, log_id, inbound.heard.kind, now)
            if _is_stop(inp):
                # Honoured whoever owns the chat; the agent sees it in the conversation.
                outcome = await self._opt_out(s, chat, link, now, via=_stop_via(inp))
                if ticket is not None:
                    relay.changed(s, ticket, now)
            elif ticket is not None and ticket.held:
                outcome = await relay.while_held(s, ticket, link.debtor, inp, now, self.creditor)
            else:
                outcome = await self.bot.answer(s, chat, link, _readable(inp), now)
            if outcome is None:
                return None
            stored = await replies.queue(
                s, channel=chat.channel, chat_id=chat.chat_id, debtor_id=outcome.debtor_id,
                messages=outcome.messages, locale=await _keyboard_locale(s, outcome, chat),
                at=now, claimed_by=self.senders[chat.channel].lease.name,
            )  # fmt: skip
            if ticket is not None:
                relay.said(s, ticket, stored, now)
            return Answer(outcome.debtor_id, stored, watched=ticket is not None)

        return await retrying(self.sessions, work, also=(IntegrityError,))

    async def _record(
        self, s: AsyncSession, inbound: Inbound, link: ChannelLink | None, now: datetime
    ) -> int | None:
        """Log what was heard: its row, or None if it was on record already; a person writing
        again makes an unreachable chat reachable."""
        chat, heard = inbound.chat, inbound.heard
        log_id = await log_inbound(
            s, channel=chat.channel, chat_id=chat.chat_id,
            debtor_id=link.debtor_id if link else None, kind=heard.kind, text=heard.text,
            message_id=heard.message_id, update_id=inbound.delivery_id, at=now,
        )  # fmt: skip
        if log_id is not None and link is not None and link.unreachable_at is not None:
            link.unreachable_at, link.unreachable_reason = None, None
            audit(s, link.debtor_id, "chat_reachable_again", actor="debtor", at=now)
        return log_id

    async def _opt_out(
        self, s: AsyncSession, chat: Chat, link: ChannelLink | None, now: datetime, via: str
    ) -> Outcome:
        """No more proactive messages for the chat's debtor, confirmed at once."""
        debtor = await s.get(Debtor, link.debtor_id) if link is not None else None
        if debtor is not None:
            await opt_out(s, debtor, now, via=via)
        locale = debtor.locale if debtor is not None else chat.language_code
        confirmed = await template_message(
            s, "opted_out", locale, self.creditor, reply_keyboard=ReplyKeyboard.REMOVE
        )
        return Outcome(debtor.id if debtor else None, [confirmed])

    async def _apologise(self, inbound: Inbound) -> None:
        """Keep the record of what was sent if the database allows, and ask to try again."""
        chat = inbound.chat
        debtor_id, locale = None, chat.language_code
        try:
            async with self.sessions.begin() as s:
                link = await self.bot.link_of(s, chat)
                if link is not None:
                    debtor_id, locale = link.debtor_id, link.debtor.locale
                if inbound.heard is not None:
                    await self._record(s, inbound, link, self.clock())
        except Exception:
            log.warning("an update could not be recorded either; the database may be unavailable")
        sorry = OutMessage(translator(locale)(labels.TRY_AGAIN), kind="reply")
        try:
            await self.senders[chat.channel].send(chat.chat_id, sorry, debtor_id=debtor_id)
        except Exception:
            log.warning("the apology could not be sent or recorded")


def _is_stop(inp: Input) -> bool:
    if inp.kind == "command":
        return inp.text == "stop"
    return inp.kind == "text" and is_stop_request(inp.text)


def _stop_via(inp: Input) -> str:
    return "/stop" if inp.kind == "command" else "text"


def _readable(inp: Input) -> Input:
    """The input as the dialogues read it: long texts cut to their beginning."""
    if inp.kind == "text" and len(inp.text) > MAX_TEXT:
        return Input("text", text=inp.text[:MAX_TEXT])
    return inp


async def _keyboard_locale(s: AsyncSession, outcome: Outcome, chat: Chat) -> str | None:
    """The language of the contact-sharing keyboard's labels, the only ones translated here."""
    if not any(m.reply_keyboard is ReplyKeyboard.SHARE_CONTACT for m in outcome.messages):
        return None
    debtor = await s.get(Debtor, outcome.debtor_id) if outcome.debtor_id else None
    return debtor.locale if debtor else chat.language_code

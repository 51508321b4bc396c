"""Identity verification (see verify.mmd): linking a chat to a debtor by a deep link and
confirming who is there, before anything about a debt is shown.

Each public method handles one thing the person did and returns the messages to send. It runs
inside the caller's transaction, so what the bot says is already durable when it says it. The
chat's position (``contact`` or ``question``) is its ``dialogue_state`` row, moved by the
engine like any flow's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.accounts.names import greeting_name
from bot.channel import Chat, OutMessage, ReplyKeyboard
from bot.compliance.optout import opt_in
from bot.compliance.records import audit
from bot.db.models import Account, ChannelLink, Debtor, DebtorPhone, LinkToken
from bot.dialogues.engine import Outcome, Settings, load_state, move, template_message
from bot.dialogues.home import home_message
from bot.dialogues.registry import Command, Dialogue
from bot.i18n import SUPPORTED_LOCALES, translator
from bot.linking.tokens import find_live_token, live_token_clause

MAX_ATTEMPTS = 3
ANSWER_LENGTH = 4
FLOW = "verify"
CONTACT, QUESTION = "contact", "question"


class Verify:
    """Deep-link start, identity checks and the verified summary."""

    def __init__(self, settings: Settings) -> None:
        self.creditor = settings.creditor
        self.payment_url_template = settings.payment_url_template
        self.question_labels = {
            translator(loc)(labels.ANSWER_QUESTION) for loc in SUPPORTED_LOCALES
        }

    async def start(
        self, s: AsyncSession, chat: Chat, link: ChannelLink | None, payload: str, now: datetime
    ) -> Outcome:
        """``/start`` with or without a deep-link token."""
        token = await find_live_token(s, payload, now) if payload else None
        if link is not None and link.verified_at is not None:
            await opt_in(s, await s.get(Debtor, link.debtor_id), now, via="/start")
        if token is None:
            if link is not None and link.verified_at is not None:
                return await self._summary_outcome(s, link.debtor_id, greet=False)
            if link is not None and await self._live_token_of(s, link, now) is not None:
                return await self._verify_needed(s, link)
            return Outcome(None, [await self._message(s, "start_generic", chat.language_code)])
        if link is not None and link.debtor_id != token.debtor_id:
            audit(
                s,
                token.debtor_id,
                "relink_refused",
                actor="debtor",
                at=now,
                detail=f"chat already linked to debtor {link.debtor_id}",
            )
            debtor = await s.get(Debtor, token.debtor_id)
            return Outcome(None, [await self._message(s, "chat_linked_elsewhere", debtor.locale)])
        if link is not None and link.verified_at is not None:
            token.used_at = now
            return await self._summary_outcome(s, link.debtor_id, greet=False)
        # Opening the link again before verifying is recorded as that, not as a second link.
        event = "chat_linked" if link is None else "link_opened_again"
        if link is None:
            link = ChannelLink(
                debtor_id=token.debtor_id,
                channel=chat.channel,
                chat_id=chat.chat_id,
                user_id=chat.user_id,
                language_code=chat.language_code,
                linked_at=now,
                failed_attempts=0,
            )
            s.add(link)
        link.token_id = token.id
        await self._set_step(s, chat, token.debtor_id, CONTACT, now)
        audit(s, token.debtor_id, event, actor="debtor", at=now, detail=chat.channel)
        debtor = await s.get(Debtor, token.debtor_id)
        _ = translator(debtor.locale)
        greeting = await self._message(
            s,
            "link_greeting",
            debtor.locale,
            reply_keyboard=ReplyKeyboard.SHARE_CONTACT,
            share_label=_(labels.SHARE_CONTACT),
            question_label=_(labels.ANSWER_QUESTION),
        )
        return Outcome(token.debtor_id, [greeting])

    async def contact(
        self,
        s: AsyncSession,
        chat: Chat,
        link: ChannelLink | None,
        contact_user_id: int | None,
        phone: str,
        now: datetime,
    ) -> Outcome:
        """A shared contact: verifies when it is the sender's own and the phone matches."""
        if link is None:
            return Outcome(None, [await self._message(s, "start_generic", chat.language_code)])
        if link.verified_at is not None:
            return await self._summary_outcome(s, link.debtor_id, greet=False)
        token = await self._live_token_of(s, link, now)
        if token is None:
            return await self._dead_link(s, link, chat)
        if contact_user_id is None or contact_user_id != chat.user_id:
            return await self._fail(s, link, token, now, "verify_not_own_contact")
        matched = await self._matching_phone(s, link.debtor_id, phone)
        if matched is not None:
            link.verified_phone = matched
            return await self._verified(s, link, token, now, "contact")
        return await self._fail(s, link, token, now, "verify_failed")

    async def text(
        self, s: AsyncSession, chat: Chat, link: ChannelLink | None, text: str, now: datetime
    ) -> Outcome:
        """Free text from a chat that is not verified yet."""
        if link is None:
            return Outcome(None, [await self._message(s, "start_generic", chat.language_code)])
        token = await self._live_token_of(s, link, now)
        if token is None:
            return await self._dead_link(s, link, chat)
        answer = text.strip()
        if answer in self.question_labels:
            await self._set_step(s, chat, link.debtor_id, QUESTION, now)
            debtor = await s.get(Debtor, link.debtor_id)
            return Outcome(
                link.debtor_id, [await self._message(s, "verify_ask_question", debtor.locale)]
            )
        if len(answer) != ANSWER_LENGTH or any(ch.isspace() for ch in answer):
            return await self._verify_needed(s, link)
        if await self._answer_matches(s, link.debtor_id, answer):
            return await self._verified(s, link, token, now, "knowledge")
        return await self._fail(s, link, token, now, "verify_failed")

    async def prompt(
        self, s: AsyncSession, chat: Chat, link: ChannelLink | None, now: datetime
    ) -> Outcome:
        """What to say to anything else (a button, a sticker) before verification."""
        if link is None:
            return Outcome(None, [await self._message(s, "start_generic", chat.language_code)])
        if await self._live_token_of(s, link, now) is None:
            return await self._dead_link(s, link, chat)
        return await self._verify_needed(s, link)

    # -- steps -------------------------------------------------------------------------------

    async def _verified(
        self, s: AsyncSession, link: ChannelLink, token: LinkToken, now: datetime, method: str
    ) -> Outcome:
        link.verified_at, link.verify_method, link.failed_attempts = now, method, 0
        if method != "contact":
            link.verified_phone = None
        token.used_at = now
        others = (
            await s.execute(
                select(func.count()).where(
                    ChannelLink.debtor_id == link.debtor_id,
                    ChannelLink.verified_at.is_not(None),
                    ChannelLink.id != link.id,
                )
            )
        ).scalar_one()
        detail = f"by {method}" + (f"; {others} other verified chat(s)" if others else "")
        audit(s, link.debtor_id, "chat_verified", actor="debtor", at=now, detail=detail)
        await self._set_step(s, link, link.debtor_id, None, now)
        return await self._summary_outcome(s, link.debtor_id, greet=True)

    async def _fail(
        self, s: AsyncSession, link: ChannelLink, token: LinkToken, now: datetime, key: str
    ) -> Outcome:
        token.failed_attempts += 1
        link.failed_attempts += 1
        audit(s, link.debtor_id, "verify_failed", actor="debtor", at=now, detail=key)
        debtor = await s.get(Debtor, link.debtor_id)
        if token.failed_attempts >= MAX_ATTEMPTS:
            token.locked_at = now
            audit(
                s,
                link.debtor_id,
                "link_locked",
                actor="system",
                at=now,
                detail=f"{MAX_ATTEMPTS} failed attempts",
            )
            await self._set_step(s, link, link.debtor_id, None, now)
            locked = await self._message(
                s, "verify_locked", debtor.locale, reply_keyboard=ReplyKeyboard.REMOVE
            )
            return Outcome(link.debtor_id, [locked])
        await self._set_step(s, link, link.debtor_id, QUESTION, now)
        _ = translator(debtor.locale)
        message = await self._message(
            s,
            key,
            debtor.locale,
            reply_keyboard=ReplyKeyboard.SHARE_CONTACT,
            remaining=MAX_ATTEMPTS - token.failed_attempts,
            share_label=_(labels.SHARE_CONTACT),
        )
        return Outcome(link.debtor_id, [message])

    async def _verify_needed(self, s: AsyncSession, link: ChannelLink) -> Outcome:
        debtor = await s.get(Debtor, link.debtor_id)
        _ = translator(debtor.locale)
        message = await self._message(
            s,
            "verify_needed",
            debtor.locale,
            reply_keyboard=ReplyKeyboard.SHARE_CONTACT,
            share_label=_(labels.SHARE_CONTACT),
        )
        return Outcome(link.debtor_id, [message])

    async def _dead_link(self, s: AsyncSession, link: ChannelLink, chat: Chat) -> Outcome:
        token = await s.get(LinkToken, link.token_id) if link.token_id else None
        if token is not None and token.locked_at is not None:
            debtor = await s.get(Debtor, link.debtor_id)
            return Outcome(None, [await self._message(s, "verify_locked", debtor.locale)])
        return Outcome(None, [await self._message(s, "start_generic", chat.language_code)])

    async def _summary_outcome(self, s: AsyncSession, debtor_id: int, *, greet: bool) -> Outcome:
        debtor = await s.get(Debtor, debtor_id)
        if debtor.deceased_at is not None:
            # Whoever writes now is not the debtor: nothing about the debt, as in the dialogues.
            return Outcome(debtor_id, [await self._message(s, "deceased_ack", debtor.locale)])
        messages = []
        if greet:
            messages.append(
                await self._message(
                    s, "verified", debtor.locale, reply_keyboard=ReplyKeyboard.REMOVE,
                    first_name=greeting_name(debtor.full_name),
                )
            )  # fmt: skip
        messages.append(
            await home_message(
                s, debtor, creditor=self.creditor, payment_url_template=self.payment_url_template
            )
        )
        return Outcome(debtor_id, messages)

    # -- helpers -----------------------------------------------------------------------------

    async def _message(
        self,
        s: AsyncSession,
        key: str,
        locale: str | None,
        *,
        reply_keyboard: ReplyKeyboard | None = None,
        **context: Any,
    ) -> OutMessage:
        # Only the creditor and what is given: nothing about the debtor before verification.
        return await template_message(
            s, key, locale, self.creditor, reply_keyboard=reply_keyboard, **context
        )

    async def _live_token_of(
        self, s: AsyncSession, link: ChannelLink, now: datetime
    ) -> LinkToken | None:
        if link.token_id is None:
            return None
        return (
            await s.execute(
                select(LinkToken).where(LinkToken.id == link.token_id, live_token_clause(now))
            )
        ).scalar_one_or_none()

    async def _matching_phone(self, s: AsyncSession, debtor_id: int, phone: str) -> str | None:
        """The debtor's phone (E.164) that the shared number is, or None."""
        # Telegram sends numbers with or without the leading "+".
        digits = "+" + phone.strip().lstrip("+")
        try:
            e164 = phonenumbers.format_number(
                phonenumbers.parse(digits, None), phonenumbers.PhoneNumberFormat.E164
            )
        except phonenumbers.NumberParseException:
            return None
        found = await s.execute(
            select(DebtorPhone.id).where(
                DebtorPhone.debtor_id == debtor_id, DebtorPhone.phone_e164 == e164
            )
        )
        return e164 if found.first() is not None else None

    async def _answer_matches(self, s: AsyncSession, debtor_id: int, answer: str) -> bool:
        refs = (
            await s.execute(select(Account.account_ref).where(Account.debtor_id == debtor_id))
        ).scalars()
        wanted = answer.casefold()
        return any(
            len(ref) >= ANSWER_LENGTH and ref[-ANSWER_LENGTH:].casefold() == wanted for ref in refs
        )

    async def _set_step(
        self,
        s: AsyncSession,
        chat: Chat | ChannelLink,
        debtor_id: int,
        step: str | None,
        now: datetime,
    ) -> None:
        state = await load_state(s, chat.channel, chat.chat_id, debtor_id, now)
        move(state, FLOW if step else None, step, now)


# Only /start is this flow's command (with a deep-link payload, or to opt in again).
DIALOGUE = Dialogue(
    name="verify", commands=(Command("start", labels.COMMANDS["start"], position=0),)
)

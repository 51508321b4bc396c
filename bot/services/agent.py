"""What an agent does from the console: reply through the bot, keep notes, act on the debtor's
behalf, hand the chat back. The web handlers call these; the rules live in the domains.

Only the agent holding a ticket replies or acts on it, and each of those renews their lease.
A reply is checked against the compliance rules at send time (bot/compliance/reach.py), stored
as a pending contact-log row of kind ``agent`` with its console event and sent once that has
committed, like the bot's replies (bot/conversation/replies.py), so the reply sweeper covers it
too. Every action is audited with the agent as actor and tells consoles ``ticket_changed``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import OutMessage, Sender, SendError
from bot.compliance import flags
from bot.compliance.reach import chat_of, refusal
from bot.conversation import replies
from bot.conversation.watched import AGENT
from bot.db.engine import retrying
from bot.db.models import (
    Account,
    ChannelLink,
    Debtor,
    HandoffTicket,
    Promise,
    RepaymentPlan,
    StaffNote,
)
from bot.handoff import canned as canned_replies
from bot.handoff import claims, notes
from bot.handoff.events import publish
from bot.handoff.tickets import TicketError
from bot.policy import Policy
from bot.promises.agreements import make_plan, make_promise, plan_schedule, promise_problem

# Telegram's limit, counted in what the debtor reads.
MAX_TEXT = 4096


class Refused(TicketError):
    """An action the rules do not allow; the message says why, for the agent."""


@dataclass(frozen=True)
class ReplyResult:
    """A reply stored (``log_id``) or refused (``refusal``, a sentence for the agent); a stored
    one the channel did not take has ``error``, what the channel said."""

    log_id: int | None
    refusal: str | None
    error: str | None = None


async def send_reply(
    sessions: async_sessionmaker[AsyncSession],
    senders: Mapping[str, Sender],
    *,
    ticket_id: int,
    staff_id: int,
    text: str,
    now: datetime,
    policy: Policy,
    creditor: str,
    canned: str = "",
) -> ReplyResult:
    """Send the holder's text to the debtor, if the rules allow it now; ``canned`` ("id:version")
    names the canned reply the text started from, for the contact log."""
    body = text.strip()
    if not body:
        return ReplyResult(None, "There is nothing to send.")
    if len(body) > MAX_TEXT:
        return ReplyResult(
            None, f"A message may be at most {MAX_TEXT:,} characters; this one has {len(body):,}."
        )
    # Escaped into Telegram HTML, as every message out is logged; it is sent as plain text.
    message = OutMessage(html.escape(body, quote=False), kind=AGENT)

    async def work(s: AsyncSession) -> tuple[str | None, _Chat | None]:
        used = await canned_replies.used(s, canned)
        out = (
            message
            if used is None
            else replace(message, template_key=used[0], template_version=used[1])
        )
        try:
            ticket = await claims.holds(s, ticket_id, staff_id)
        except TicketError as exc:
            return str(exc), None
        chat, why = await _reachable(s, ticket, senders, now, policy)
        if why is not None:
            return why, None
        stored = await _queue(s, ticket, chat, [out], now, staff_id, senders)
        if ticket.first_reply_at is None:
            ticket.first_reply_at = now
        await claims.renew(s, ticket_id, staff_id, now, policy)
        return None, _Chat(chat.channel, chat.chat_id, ticket.debtor_id, stored)

    why, chat = await retrying(sessions, work)
    if chat is None:
        return ReplyResult(None, why)
    return await _deliver(sessions, senders, chat)


async def hand_back(
    sessions: async_sessionmaker[AsyncSession],
    senders: Mapping[str, Sender],
    *,
    ticket_id: int,
    staff_id: int,
    now: datetime,
    creditor: str,
    policy: Policy | None = None,
) -> ReplyResult:
    """Resolve the ticket as handed back: the bot answers the chat again and the debtor is told
    so politely when they may be written to now (with a policy, the contact window counts too;
    ``refusal`` says why they were not). TicketError if the agent does not hold the ticket."""

    async def work(s: AsyncSession) -> tuple[str | None, _Chat | None]:
        messages = await claims.hand_back(s, ticket_id, staff_id, now, creditor)
        ticket = await s.get(HandoffTicket, ticket_id)
        chat, why = await _reachable(s, ticket, senders, now, policy)
        if why is not None:
            return why, None
        stored = await _queue(s, ticket, chat, messages, now, None, senders)
        return None, _Chat(chat.channel, chat.chat_id, ticket.debtor_id, stored)

    why, chat = await retrying(sessions, work)
    if chat is None:
        return ReplyResult(None, why)
    return await _deliver(sessions, senders, chat)


async def add_note(
    s: AsyncSession,
    ticket_id: int | None,
    staff_id: int,
    text: str,
    now: datetime,
    policy: Policy,
    *,
    debtor_id: int | None = None,
) -> StaffNote:
    """A private note on a ticket's debtor (or on ``debtor_id`` without a ticket); it renews the
    lease of an agent who holds the ticket."""
    if ticket_id is not None:
        ticket = await s.get(HandoffTicket, ticket_id)
        if ticket is None:
            raise TicketError("There is no such ticket.")
        debtor_id = ticket.debtor_id
        await claims.renew(s, ticket_id, staff_id, now, policy)
    if debtor_id is None or await s.get(Debtor, debtor_id) is None:
        raise TicketError("There is no such debtor.")
    return await notes.add_note(s, debtor_id, staff_id, text, now, ticket_id=ticket_id)


async def mark_seen(s: AsyncSession, ticket_id: int, staff_id: int, log_id: int) -> bool:
    """The holder has read the conversation up to contact-log row ``log_id``."""
    return await notes.mark_seen(s, ticket_id, staff_id, log_id)


async def record_promise(
    s: AsyncSession,
    ticket_id: int,
    staff_id: int,
    *,
    account_id: int,
    amount_minor: int,
    promised_date: date,
    now: datetime,
    policy: Policy,
) -> Promise:
    """A promise the debtor made to the agent, under the chat flow's rules."""
    ticket, debtor = await _acting(s, ticket_id, staff_id, now, policy)
    account = await _account(s, debtor, account_id)
    problem = promise_problem(policy, account, amount_minor, promised_date, _today(debtor, now))
    if problem:
        raise Refused(problem)
    promise = await make_promise(
        s, account, amount_minor, promised_date, now, by=claims.actor_of(staff_id)
    )
    _changed(s, ticket, now)
    return promise


async def record_plan(
    s: AsyncSession,
    ticket_id: int,
    staff_id: int,
    *,
    account_id: int,
    installments: int,
    now: datetime,
    policy: Policy,
) -> RepaymentPlan:
    """A repayment plan agreed with the agent, spaced as the policy says, within its limits."""
    ticket, debtor = await _acting(s, ticket_id, staff_id, now, policy)
    account = await _account(s, debtor, account_id)
    low, high = policy.plans.min_installments, policy.plans.max_installments
    if not account.owed:
        raise Refused("Nothing is owed on this account.")
    if not low <= installments <= min(high, account.amount_due_minor):
        raise Refused(f"A plan has from {low} to {high} installments under the policy.")
    parts = plan_schedule(policy, account.amount_due_minor, installments, _today(debtor, now))
    plan = await make_plan(s, policy, account, parts, now, by=claims.actor_of(staff_id))
    _changed(s, ticket, now)
    return plan


async def pause_hardship(
    s: AsyncSession, ticket_id: int, staff_id: int, *, until: date, now: datetime, policy: Policy
) -> None:
    """No reminders until ``until`` (the debtor's date), at most the policy's longest pause."""
    ticket, debtor = await _acting(s, ticket_id, staff_id, now, policy)
    try:
        await flags.pause_for_hardship(
            s, debtor, until, today=_today(debtor, now), now=now,
            actor=claims.actor_of(staff_id), policy=policy,
        )  # fmt: skip
    except flags.FlagError as exc:
        raise Refused(str(exc)) from None
    _changed(s, ticket, now)


async def decide_dispute(
    s: AsyncSession, ticket_id: int, staff_id: int, *, upheld: bool, now: datetime, policy: Policy
) -> None:
    """Upheld (reminders stay stopped) or rejected (they resume as the policy says)."""
    ticket, debtor = await _acting(s, ticket_id, staff_id, now, policy)
    await flags.decide_dispute(s, debtor, upheld=upheld, now=now, actor=claims.actor_of(staff_id))
    _changed(s, ticket, now)


async def confirm_death(
    s: AsyncSession, ticket_id: int, staff_id: int, *, now: datetime, policy: Policy
) -> None:
    """The debtor died: everything stops (reminders, replies, account details in the chat)."""
    ticket, debtor = await _acting(s, ticket_id, staff_id, now, policy)
    await flags.confirm_death(s, debtor, now=now, actor=claims.actor_of(staff_id))
    _changed(s, ticket, now)


async def cease_communication(
    s: AsyncSession, ticket_id: int, staff_id: int, *, now: datetime, policy: Policy
) -> None:
    """The debtor asked us to stop contacting them: nothing more is sent to them."""
    ticket, debtor = await _acting(s, ticket_id, staff_id, now, policy)
    await flags.cease_communication(s, debtor, now=now, actor=claims.actor_of(staff_id))
    _changed(s, ticket, now)


@dataclass(frozen=True)
class _Chat:
    channel: str
    chat_id: int
    debtor_id: int
    stored: list[replies.Pending]


async def _reachable(
    s: AsyncSession,
    ticket: HandoffTicket,
    senders: Mapping[str, Sender],
    now: datetime,
    policy: Policy | None,
) -> tuple[ChannelLink | None, str | None]:
    debtor = await s.get(Debtor, ticket.debtor_id)
    link = await chat_of(s, debtor.id, frozenset(senders))
    why = await refusal(s, debtor, link, now, policy)
    return (None, why) if why else (link, None)


async def _queue(
    s: AsyncSession,
    ticket: HandoffTicket,
    chat: ChannelLink,
    messages: list[OutMessage],
    now: datetime,
    staff_id: int | None,
    senders: Mapping[str, Sender],
) -> list[replies.Pending]:
    stored = await replies.queue(
        s, channel=chat.channel, chat_id=chat.chat_id, debtor_id=ticket.debtor_id,
        messages=messages, locale=None, at=now, staff_id=staff_id,
        claimed_by=senders[chat.channel].lease.name,
    )  # fmt: skip
    for log_id, message, _ in stored:
        publish(
            s, "message", now=now, ticket_id=ticket.id, debtor_id=ticket.debtor_id,
            log_id=log_id, direction="out", kind=message.kind,
        )  # fmt: skip
    return stored


async def _deliver(
    sessions: async_sessionmaker[AsyncSession], senders: Mapping[str, Sender], chat: _Chat
) -> ReplyResult:
    log_id = chat.stored[0][0] if chat.stored else None
    try:
        blocked = await replies.deliver(
            senders[chat.channel], sessions, chat.chat_id, chat.debtor_id, chat.stored,
            watched=True,
        )  # fmt: skip
    except SendError as exc:
        return ReplyResult(log_id, None, str(exc))
    return ReplyResult(log_id, None, str(blocked) if blocked else None)


async def _acting(
    s: AsyncSession, ticket_id: int, staff_id: int, now: datetime, policy: Policy
) -> tuple[HandoffTicket, Debtor]:
    """The ticket the agent holds and its debtor, locked; the agent's lease renewed."""
    ticket = await claims.holds(s, ticket_id, staff_id)
    debtor = await s.scalar(
        select(Debtor)
        .where(Debtor.id == ticket.debtor_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    await claims.renew(s, ticket_id, staff_id, now, policy)
    return ticket, debtor


async def _account(s: AsyncSession, debtor: Debtor, account_id: int) -> Account:
    account = await s.get(Account, account_id)
    if account is None or account.debtor_id != debtor.id:
        raise Refused("That account is not one of this debtor's.")
    return account


def _today(debtor: Debtor, now: datetime) -> date:
    return now.astimezone(ZoneInfo(debtor.timezone)).date()


def _changed(s: AsyncSession, ticket: HandoffTicket, now: datetime) -> None:
    publish(s, "ticket_changed", now=now, ticket_id=ticket.id, debtor_id=ticket.debtor_id)

"""The conversation pipeline is channel-neutral: a second channel, with its own sender, gets the
same turn as Telegram (recorded once, STOP first, the bot's answer, replies stored then sent)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.channel import Chat, Delivery, OutMessage, Withdrawn
from bot.compliance.recorder import OutboundRecorder
from bot.compliance.records import outbound_row, outcome_of
from bot.conversation.pipeline import Conversations, Heard, Inbound
from bot.db.models import ChannelLink, ContactLog, Debtor
from bot.db.workers import WorkerLease
from bot.dialogues.engine import Input
from bot.dialogues.engine import Settings as DialogueSettings
from bot.dialogues.router import Dialogues
from bot.policy import load_policy
from tests.helpers import add_debtor

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
CHANNEL = "webchat"


class WebChat:
    """A second channel: keeps what it delivered, and records it as every sender does."""

    channel = CHANNEL

    def __init__(self, sessions) -> None:
        self.recorder = OutboundRecorder(sessions)
        self.lease = WorkerLease(sessions)
        self.delivered: list[tuple[int, str]] = []

    async def send(
        self,
        chat_id: int,
        message: OutMessage,
        *,
        debtor_id=None,
        locale=None,
        log_id=None,
        handover=None,
    ) -> Delivery:
        """Deliver (keep) the message and settle its contact-log row."""
        if handover is not None and not await handover.begin():
            raise Withdrawn("taken over")
        self.delivered.append((chat_id, message.text))
        outcome = outcome_of(len(self.delivered), None, NOW)
        if log_id is not None:
            return Delivery(len(self.delivered), await self.recorder.settle(log_id, outcome))
        row = outbound_row(
            channel=CHANNEL, chat_id=chat_id, debtor_id=debtor_id, message=message, at=NOW,
            outcome=outcome,
        )  # fmt: skip
        return Delivery(len(self.delivered), await self.recorder.record(row))


@pytest.fixture
def web(sessions):
    settings = DialogueSettings("Acme Lending", "https://pay.example/{account_ref}")
    owner = Dialogues(load_policy(None), settings)
    channel = WebChat(sessions)
    return channel, Conversations(sessions, owner, {CHANNEL: channel}, lambda: NOW, "Acme Lending")


def _said(chat_id: int, delivery_id: int, text: str) -> Inbound:
    chat = Chat(CHANNEL, chat_id, user_id=chat_id, language_code="en")
    return Inbound(chat, Input("text", text=text), delivery_id, Heard("text", text, delivery_id))


async def _log(sessions) -> list[tuple[str, str, str | None, str]]:
    async with sessions() as s:
        rows = await s.execute(
            select(
                ContactLog.channel, ContactLog.direction, ContactLog.text, ContactLog.status
            ).order_by(ContactLog.id)
        )
        return [tuple(r) for r in rows]


async def test_a_stranger_on_another_channel_is_answered_once_per_delivery(sessions, web):
    channel, conversations = web
    await conversations.handle(_said(7, 1, "hello"))
    await conversations.handle(_said(7, 1, "hello"))  # the channel delivered it again

    assert len(channel.delivered) == 1
    assert channel.delivered[0][0] == 7
    assert "Acme Lending" in channel.delivered[0][1]
    assert [(c, d, st) for c, d, _, st in await _log(sessions)] == [
        (CHANNEL, "in", "received"),
        (CHANNEL, "out", "sent"),
    ]


async def test_stop_on_another_channel_opts_the_debtor_out_before_anything_else(sessions, web):
    channel, conversations = web
    async with sessions.begin() as s:
        debtor = await add_debtor(s, "D-1", accounts=[("ACC-1", date(2026, 11, 20), 5000, "USD")])
        s.add(
            ChannelLink(
                debtor_id=debtor.id, channel=CHANNEL, chat_id=8, user_id=8, failed_attempts=0,
                linked_at=NOW, verified_at=NOW, verify_method="contact",
            )
        )  # fmt: skip
    await conversations.handle(_said(8, 1, "STOP"))

    async with sessions() as s:
        opted_out = (await s.execute(select(Debtor.opted_out_at))).scalar_one()
    assert opted_out == NOW
    assert len(channel.delivered) == 1 and "ACC-1" not in channel.delivered[0][1]
    assert (await _log(sessions))[-1][0::3] == (CHANNEL, "sent")

"""The ticker looks after the agent queue beside the reminders: claims whose lease ran out go
back to the queue, and a debtor waiting too long is told when to expect an answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.db.models import ContactLog, HandoffTicket
from bot.handoff import claims
from bot.scheduler import Ticker
from tests.handoff.conftest import CHAT, NOW, POLICY, add_staff, debtor_with_ticket
from tests.reminders.conftest import BOT


async def test_the_ticker_releases_expired_claims_and_tells_waiting_debtors(sessions, post):
    expired, _ = await debtor_with_ticket(sessions, "D-1", chat_id=CHAT + 1)
    waiting, waiting_ticket = await debtor_with_ticket(sessions, "D-2", chat_id=CHAT)
    async with sessions.begin() as s:
        held = await s.scalar(select(HandoffTicket.id).where(HandoffTicket.debtor_id == expired))
        s.add(
            ContactLog(
                debtor_id=waiting, channel="telegram", chat_id=CHAT, direction="in",
                kind="text", text="a person please", status="received", created_at=NOW,
            )
        )  # fmt: skip
    ada = await add_staff(sessions, "ada")
    async with sessions.begin() as s:
        await claims.claim(s, held, ada, NOW, POLICY)
    post.started(CHAT)
    later = NOW + timedelta(minutes=POLICY.handoff.answer_within_minutes)
    ticker = Ticker(sessions, post.dispatcher(), POLICY, lambda: later)

    ticker.start()
    try:
        await post.sandbox.wait_for_bot_messages(BOT, CHAT, 1, within=10)
        async with asyncio.timeout(10):
            while True:
                async with sessions() as s:
                    query = select(HandoffTicket.status).order_by(HandoffTicket.id)
                    statuses = (await s.scalars(query)).all()
                if statuses == ["open", "open"]:
                    break
                await asyncio.sleep(0.05)
    finally:
        await ticker.stop()

    assert post.sandbox.bot_texts(BOT, CHAT)[0].startswith("Thank you for waiting.")
    async with sessions() as s:
        assert (await s.get(HandoffTicket, waiting_ticket)).waiting_notice_at == later

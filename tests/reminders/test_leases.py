"""Claims are leases: a reminder a stopped process claimed and never began to send goes out
from another process at once; one a live process holds is left to it; a process whose lease
ran out while it was still alive sends nothing it no longer holds; and one that stops
gracefully gives its claims back."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from bot.db.models import ReminderOutbox, Worker
from bot.db.workers import Claimed
from bot.policy import load_policy
from bot.reminders.planner import plan
from tests.helpers import add_debtor
from tests.reminders.conftest import BOT

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
TODAY = date(2026, 12, 1)


async def _one_reminder(post, sessions, chat: int = 801) -> None:
    post.started(chat)
    async with sessions.begin() as s:
        await add_debtor(
            s, f"D-{chat}", chat_id=chat,
            accounts=[(f"A-{chat}", TODAY - timedelta(days=3), 100, "USD")],
        )  # fmt: skip
        assert (await plan(s, load_policy(), NOW)).planned == 1


async def _claim_as(sessions, worker: str) -> None:
    async with sessions.begin() as s:
        await s.execute(
            update(ReminderOutbox).values(status="claimed", claimed_by=worker, claimed_at=NOW)
        )


async def _row(sessions) -> ReminderOutbox:
    async with sessions() as s:
        return (await s.execute(select(ReminderOutbox))).scalar_one()


async def test_a_claim_of_a_stopped_process_is_sent_by_the_next_pass_at_once(sessions, post):
    await _one_reminder(post, sessions)
    await _claim_as(sessions, "gone-host:1:dead00")  # no lease of that name is alive

    report = await post.dispatcher().dispatch(NOW)

    assert (report.recovered, report.sent, report.interrupted) == (1, 1, 0)
    assert len(post.sandbox.bot_texts(BOT, 801)) == 1
    row = await _row(sessions)
    assert (row.status, row.claimed_by) == ("sent", post.sender.lease.name)


async def test_a_claim_a_live_process_holds_is_left_to_it(sessions, post):
    await _one_reminder(post, sessions)
    other = await post.another_process()
    await _claim_as(sessions, other.lease.name)

    report = await post.dispatcher().dispatch(NOW)

    assert (report.recovered, report.sent) == (0, 0)
    assert post.sandbox.bot_texts(BOT, 801) == []
    assert (await _row(sessions)).status == "claimed"


async def test_a_process_whose_lease_ran_out_sends_nothing_it_no_longer_holds(sessions, post):
    await _one_reminder(post, sessions)
    slow = await post.another_process()
    (claimed,) = await post.dispatcher(sender=slow).claim(NOW, 10)
    # The slow process stalls past its lease; another process takes the row over and sends it.
    async with sessions.begin() as s:
        await s.execute(
            update(Worker)
            .where(Worker.name == slow.lease.name)
            .values(alive_until=time.time() - 1)
        )
    assert (await post.dispatcher().dispatch(NOW)).sent == 1
    # The slow process wakes and goes on with the row it had claimed: its hand-over is refused.
    decision = await post.dispatcher(sender=slow)._send(
        claimed, NOW, Claimed.reminder(slow.lease, claimed.id)
    )

    assert decision.status == "lost"
    assert len(post.sandbox.bot_texts(BOT, 801)) == 1
    assert (await _row(sessions)).status == "sent"


async def test_a_graceful_stop_gives_claims_back_for_others_to_send(sessions, post):
    await _one_reminder(post, sessions)
    leaving = await post.another_process()
    await post.dispatcher(sender=leaving).claim(NOW, 10)

    await leaving.lease.stop()

    row = await _row(sessions)
    assert (row.status, row.claimed_by) == ("pending", None)
    async with sessions() as s:
        assert (await s.get(Worker, leaving.lease.name)) is None
    assert (await post.dispatcher().dispatch(NOW)).sent == 1

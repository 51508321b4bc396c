"""A debtor waiting for a person is told once when to expect an answer: after
``answer_within_minutes`` unclaimed, or at once outside business hours; through the reply
store, so two processes send it once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.db.models import ContactLog, Debtor, HandoffTicket
from bot.handoff import claims
from bot.services.waiting import look_after_queue, notify_waiting
from tests.handoff.conftest import CHAT, NOW, POLICY, add_staff, debtor_with_ticket, events
from tests.reminders.conftest import BOT

WAIT = timedelta(minutes=POLICY.handoff.answer_within_minutes)
# Business hours in New York, for readable opening times.
NY_HOURS = POLICY.model_copy(
    update={
        "handoff": POLICY.handoff.model_copy(
            update={
                "business_hours": POLICY.handoff.business_hours.model_copy(
                    update={"timezone": "America/New_York"}
                )
            }
        )
    }
)
SATURDAY = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)  # 10:00 in New York


async def _waiting(sessions, post, at: datetime = NOW, locale: str = "en_US") -> tuple[int, int]:
    """A debtor who asked for a person at ``at`` (and wrote so) in a chat that pressed Start."""
    debtor_id, ticket_id = await debtor_with_ticket(sessions, locale=locale, at=at)
    async with sessions.begin() as s:
        s.add(
            ContactLog(
                debtor_id=debtor_id, channel="telegram", chat_id=CHAT, direction="in",
                kind="text", text="a person please", status="received", created_at=at,
            )
        )  # fmt: skip
    post.started(CHAT)
    return debtor_id, ticket_id


async def _look(post, at: datetime, policy=POLICY):
    return await look_after_queue(post.sessions, post.sender, policy, at, creditor="Acme Lending")


def _texts(post) -> list[str]:
    return [m["text"] for m in post.sandbox.bot_messages(BOT, CHAT)]


async def test_an_unclaimed_ticket_gets_one_notice_after_the_wait(sessions, post):
    debtor_id, ticket_id = await _waiting(sessions, post)
    assert (await _look(post, NOW + WAIT - timedelta(seconds=1))).notified == 0
    assert _texts(post) == []

    report = await _look(post, NOW + WAIT)
    await _look(post, NOW + WAIT + timedelta(minutes=10))

    assert report.notified == 1
    assert _texts(post) == [
        "Thank you for waiting. Our team is busy right now; a member of the Acme Lending team"
        " will reply here within 30 minutes. Until then you can still use the menu: send /menu."
    ]
    async with sessions() as s:
        ticket = await s.get(HandoffTicket, ticket_id)
        row = await s.scalar(select(ContactLog).where(ContactLog.direction == "out"))
    assert (ticket.waiting_notice_at, ticket.status) == (NOW + WAIT, "open")
    assert (row.status, row.template_key) == ("sent", "waiting_for_agent")
    assert await events(sessions, "message", "delivery") == [
        ("message", ticket_id, debtor_id, {"log_id": row.id, "direction": "out", "kind": "reply"}),
        ("delivery", ticket_id, debtor_id, {"log_id": row.id, "status": "sent", "error": None}),
    ]


async def test_outside_business_hours_the_notice_says_when_the_team_is_back(sessions, post):
    await _waiting(sessions, post, at=SATURDAY, locale="zh_CN")
    await _look(post, SATURDAY + timedelta(minutes=1), NY_HOURS)
    assert _texts(post) == [
        "感谢您的耐心等待。我们的工作人员目前不在工作时间，Acme Lending的工作人员将于"
        "2026年12月7日星期一 09:00（您的当地时间）起在这里回复您。"
        "在此之前，您仍可发送 /menu 使用菜单。"
    ]


async def test_two_processes_at_once_send_the_notice_once(sessions, post):
    _, ticket_id = await _waiting(sessions, post)
    sent = await asyncio.gather(
        *(
            notify_waiting(
                sessions, post.sender, POLICY, NOW + WAIT, ticket_id, creditor="Acme Lending"
            )
            for _ in range(4)
        )
    )
    assert sorted(sent) == [False, False, False, True]
    assert len(_texts(post)) == 1


async def test_no_notice_once_claimed_nor_to_a_debtor_who_never_wrote(sessions, post):
    _, ticket_id = await _waiting(sessions, post)
    ada = await add_staff(sessions, "ada")
    async with sessions.begin() as s:
        await claims.claim(s, ticket_id, ada, NOW, POLICY)
        # Ada is at work on it: the claim holds.
        assert await claims.renew(s, ticket_id, ada, NOW + WAIT, POLICY)
    # A final-stage ticket of someone who wrote nothing since: nobody is waiting.
    await debtor_with_ticket(sessions, "D-2", chat_id=CHAT + 1, reason="final_stage")
    await _look(post, NOW + WAIT + timedelta(minutes=1))
    assert _texts(post) == []
    async with sessions() as s:
        assert (await s.scalars(select(HandoffTicket.waiting_notice_at))).all() == [None, None]


async def test_a_debtor_who_may_not_be_written_to_is_never_told(sessions, post):
    debtor_id, ticket_id = await _waiting(sessions, post)
    async with sessions.begin() as s:
        (await s.get(Debtor, debtor_id)).cease_at = NOW
    await _look(post, NOW + WAIT)
    assert _texts(post) == []
    async with sessions() as s:
        # Settled: it is not looked at again.
        assert (await s.get(HandoffTicket, ticket_id)).waiting_notice_at == NOW + WAIT


async def test_at_night_the_notice_waits_for_the_contact_window(sessions, post):
    evening = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 20:00 in New York, Tuesday
    _, ticket_id = await _waiting(sessions, post, at=evening)
    # 22:00 there, and the debtor wrote two hours ago: not now.
    await _look(post, evening + timedelta(hours=2))
    assert _texts(post) == []
    async with sessions() as s:
        assert (await s.get(HandoffTicket, ticket_id)).waiting_notice_at is None
    morning = datetime(2026, 12, 2, 13, 30, tzinfo=UTC)  # 08:30 there
    await _look(post, morning)
    assert len(_texts(post)) == 1


async def test_the_queue_pass_releases_expired_claims(sessions, post):
    _, ticket_id = await _waiting(sessions, post)
    ada = await add_staff(sessions, "ada")
    async with sessions.begin() as s:
        await claims.claim(s, ticket_id, ada, NOW, POLICY)
    lease = timedelta(minutes=POLICY.handoff.lease_minutes)
    report = await _look(post, NOW + lease + timedelta(seconds=1))
    assert report.released == 1
    async with sessions() as s:
        assert (await s.get(HandoffTicket, ticket_id)).status == "open"

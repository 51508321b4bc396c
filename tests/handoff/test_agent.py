"""An agent's reply goes to the debtor through the real sender and the local Telegram, checked
at send time like a reminder; what the rules refuse is said plainly and nothing is sent."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.channel import OutMessage
from bot.conversation import replies
from bot.conversation.replies import ReplySweeper
from bot.db.models import ChannelLink, ContactLog, Debtor, HandoffTicket
from bot.handoff import claims
from bot.services import agent
from tests.handoff.conftest import CHAT, NOW, POLICY, add_staff, debtor_with_ticket, events
from tests.reminders.conftest import BOT

LEASE = timedelta(minutes=POLICY.handoff.lease_minutes)
# 22:00 in New York: outside the contact window.
# A process that stopped: no lease of that name is alive.
GONE = "gone-host:4242:dead00"
NIGHT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
USER = {"id": CHAT, "first_name": "Dee", "language_code": "en"}


async def _claimed(sessions, post, at: datetime = NOW) -> tuple[int, int, int]:
    """A debtor whose chat pressed Start, with a ticket Ada holds; (debtor, ticket, ada)."""
    debtor_id, ticket_id = await debtor_with_ticket(sessions)
    post.started(CHAT)
    ada = await add_staff(sessions, "ada", name="Ada Lovelace")
    async with sessions.begin() as s:
        assert (await claims.claim(s, ticket_id, ada, at, POLICY)).won
    return debtor_id, ticket_id, ada


async def _reply(post, ticket_id: int, staff_id: int, text: str, at: datetime = NOW):
    return await agent.send_reply(
        post.sessions, {"telegram": post.sender}, ticket_id=ticket_id, staff_id=staff_id,
        text=text, now=at, policy=POLICY, creditor="Acme Lending",
    )  # fmt: skip


async def _agent_rows(sessions) -> list[ContactLog]:
    async with sessions() as s:
        rows = await s.scalars(
            select(ContactLog).where(ContactLog.kind == "agent").order_by(ContactLog.id)
        )
        return list(rows)


def _bot_messages(post) -> list[dict]:
    # The chat's first message is the /start that lets the bot write.
    return post.sandbox.bot_messages(BOT, CHAT)


async def test_the_holders_reply_reaches_the_debtor_as_the_text_they_wrote(sessions, post):
    debtor_id, ticket_id, ada = await _claimed(sessions, post)
    written = "<b>Hello</b> & welcome: <script>alert(1)</script>"
    later = NOW + timedelta(minutes=4)

    result = await _reply(post, ticket_id, ada, f"  {written}\n", later)

    (delivered,) = _bot_messages(post)
    assert (delivered["text"], delivered["entities"]) == (written, [])
    (row,) = await _agent_rows(sessions)
    assert result == agent.ReplyResult(row.id, None, None)
    assert (row.status, row.staff_id, row.telegram_message_id, row.debtor_id) == (
        "sent", ada, delivered["message_id"], debtor_id,
    )  # fmt: skip
    # The log keeps every message out as Telegram HTML.
    assert html.unescape(row.text) == written and "<script>" not in row.text
    assert await events(sessions, "message", "delivery") == [
        ("message", ticket_id, debtor_id, {"log_id": row.id, "direction": "out", "kind": "agent"}),
        ("delivery", ticket_id, debtor_id, {"log_id": row.id, "status": "sent", "error": None}),
    ]
    async with sessions() as s:
        assert (await s.get(HandoffTicket, ticket_id)).lease_until == later + LEASE


async def test_a_reply_to_a_chat_that_blocked_the_bot_fails_with_telegrams_reason(sessions, post):
    debtor_id, ticket_id, ada = await _claimed(sessions, post)
    post.sandbox.block(BOT, USER)

    result = await _reply(post, ticket_id, ada, "Are you there?")

    (row,) = await _agent_rows(sessions)
    reason = "Forbidden: bot was blocked by the user"
    assert result == agent.ReplyResult(row.id, None, reason)
    assert (row.status, row.error) == ("failed", f"forbidden: {reason}")
    assert (await events(sessions, "delivery")) == [
        ("delivery", ticket_id, debtor_id,
         {"log_id": row.id, "status": "failed", "error": f"forbidden: {reason}"}),
    ]  # fmt: skip
    # From now on the chat is unreachable, and the agent is told so before anything is stored.
    again = await _reply(post, ticket_id, ada, "Hello?")
    assert again == agent.ReplyResult(
        None,
        f"The chat is unreachable ({reason}): nothing can be sent until the debtor writes again.",
    )
    assert len(await _agent_rows(sessions)) == 1


def _opted_out(d: Debtor, link: ChannelLink) -> None:
    d.opted_out_at = NOW


def _ceased(d: Debtor, link: ChannelLink) -> None:
    d.cease_at = NOW


def _deceased(d: Debtor, link: ChannelLink) -> None:
    d.deceased_at = NOW


def _unverified(d: Debtor, link: ChannelLink) -> None:
    link.verified_at = None


@pytest.mark.parametrize(
    ("change", "text", "refusal"),
    [
        (None, "   ", "There is nothing to send."),
        (None, "x" * 4097, "A message may be at most 4,096 characters; this one has 4,097."),
        (_opted_out, "Hi",
         "The debtor opted out of messages (STOP): nothing may be sent to them."),
        (_ceased, "Hi",
         "The debtor asked us to cease communication: nothing may be sent to them."),
        (_deceased, "Hi",
         "The debtor's death has been recorded: nothing more is sent to this chat."),
        (_unverified, "Hi", "The debtor has no verified chat to send to."),
    ],
)  # fmt: skip
async def test_what_the_rules_refuse_is_said_and_nothing_is_sent(
    sessions, post, change, text, refusal
):
    debtor_id, ticket_id, ada = await _claimed(sessions, post)
    if change is not None:
        async with sessions.begin() as s:
            link = await s.scalar(select(ChannelLink))
            change(await s.get(Debtor, debtor_id), link)

    result = await _reply(post, ticket_id, ada, text)

    assert result == agent.ReplyResult(None, refusal)
    assert await _agent_rows(sessions) == [] and _bot_messages(post) == []
    assert await events(sessions, "message", "delivery") == []


async def test_only_the_holder_replies(sessions, post):
    _, ticket_id, ada = await _claimed(sessions, post)
    brian = await add_staff(sessions, "brian")
    refused = "Only the agent holding this ticket can do that; claim it first."
    assert await _reply(post, ticket_id, brian, "Hi") == agent.ReplyResult(None, refused)
    async with sessions.begin() as s:
        await claims.resolve(s, ticket_id, ada, "other", "", NOW)
    resolved = "This ticket is resolved; the bot has the conversation again."
    assert await _reply(post, ticket_id, ada, "Hi") == agent.ReplyResult(None, resolved)
    assert _bot_messages(post) == []


async def test_outside_the_contact_window_only_a_debtor_who_just_wrote_is_answered(sessions, post):
    debtor_id, ticket_id, ada = await _claimed(sessions, post, NIGHT)
    refused = await _reply(post, ticket_id, ada, "Good evening", NIGHT)
    assert refused.refusal == (
        "It is 22:00 for the debtor, outside the contact window (08:00–21:00 their time), and"
        " they have not written in the last 60 minutes: the reply must wait until 08:00 their"
        " time."
    )
    async with sessions.begin() as s:
        s.add(
            ContactLog(
                debtor_id=debtor_id, channel="telegram", chat_id=CHAT, direction="in",
                kind="text", text="anyone there?", status="received",
                created_at=NIGHT - timedelta(minutes=59),
            )
        )  # fmt: skip
    answered = await _reply(post, ticket_id, ada, "Good evening", NIGHT)
    assert (answered.refusal, answered.error) == (None, None)
    assert [m["text"] for m in _bot_messages(post)] == ["Good evening"]


async def test_the_sweeper_sends_an_agents_reply_a_stopped_process_left(sessions, post):
    debtor_id, ticket_id, ada = await _claimed(sessions, post)
    async with sessions.begin() as s:
        (stored,) = await replies.queue(
            s, channel="telegram", chat_id=CHAT, debtor_id=debtor_id,
            messages=[OutMessage("I am back &amp; here", kind="agent")], locale=None,
            at=NOW - timedelta(minutes=3), staff_id=ada, claimed_by=GONE,
        )  # fmt: skip
    sweeper = ReplySweeper(sessions, post.sender, lambda: NOW)

    assert await sweeper.sweep() == 1

    assert [m["text"] for m in _bot_messages(post)] == ["I am back & here"]
    (row,) = await _agent_rows(sessions)
    assert (row.id, row.status, row.staff_id) == (stored[0], "sent", ada)
    assert await events(sessions, "delivery") == [
        ("delivery", ticket_id, debtor_id, {"log_id": row.id, "status": "sent", "error": None})
    ]


async def test_the_sweeper_never_sends_what_may_no_longer_go_out(sessions, post):
    debtor_id, _, ada = await _claimed(sessions, post)
    old = NOW - timedelta(minutes=3)
    async with sessions.begin() as s:
        # The bot's answer from before the claim, and an agent's reply before an opt-out.
        await replies.queue(
            s, channel="telegram", chat_id=CHAT, debtor_id=debtor_id,
            messages=[OutMessage("Here is the menu.")], locale=None, at=old, claimed_by=GONE,
        )  # fmt: skip
        await replies.queue(
            s, channel="telegram", chat_id=CHAT, debtor_id=debtor_id,
            messages=[OutMessage("Hello", kind="agent")], locale=None, at=old, staff_id=ada,
            claimed_by=GONE,
        )  # fmt: skip
        (await s.get(Debtor, debtor_id)).opted_out_at = NOW

    assert await ReplySweeper(sessions, post.sender, lambda: NOW).sweep() == 0

    assert _bot_messages(post) == []
    async with sessions() as s:
        rows = (await s.execute(select(ContactLog.kind, ContactLog.status, ContactLog.error)
                                .order_by(ContactLog.id))).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("reply", "failed", "not sent: a person has taken the conversation over"),
        ("agent", "failed", "not sent: the debtor may no longer be contacted"),
    ]
    assert [data["status"] for _, _, _, data in await events(sessions, "delivery")] == [
        "failed", "failed",
    ]  # fmt: skip


async def test_a_reply_started_from_a_canned_reply_names_it_and_its_version_in_the_log(
    sessions, post
):
    from bot.handoff import canned

    _, ticket_id, ada = await _claimed(sessions, post)
    async with sessions.begin() as s:
        reply = await canned.save(
            s, title="Hello", locale="en", body="Hello {{ first_name }}", staff_id=ada, now=NOW
        )
    used = f"{reply.id}:{reply.version}"
    await agent.send_reply(
        post.sessions, {"telegram": post.sender}, ticket_id=ticket_id, staff_id=ada,
        text="Hello Dee, edited a little", now=NOW, policy=POLICY, creditor="Acme Lending",
        canned=used,
    )  # fmt: skip
    await agent.send_reply(
        post.sessions, {"telegram": post.sender}, ticket_id=ticket_id, staff_id=ada,
        text="My own words", now=NOW, policy=POLICY, creditor="Acme Lending",
        canned=f"{reply.id}:99",
    )  # fmt: skip
    first, second = await _agent_rows(sessions)
    assert (first.template_key, first.template_version) == (f"canned_{reply.id}", 1)
    assert (second.template_key, second.template_version) == (None, None)

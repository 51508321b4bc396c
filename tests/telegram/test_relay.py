"""While an agent owns a chat the real bot is silent in it (STOP aside, and one notice that a
person is there); the agent's replies reach the debtor through the local Bot API as they wrote
them; handing back gives the chat to the bot again."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.db.base import utcnow
from bot.db.models import ConsoleEvent, ContactLog, Debtor, HandoffTicket, StaffUser
from bot.handoff import claims
from bot.policy import load_policy
from bot.services import agent
from tests.telegram.conftest import ALICE, BOT, World

POLICY = load_policy()
TEAM = "A member of our team is with you and will reply here shortly."
SUMMARY = "Here is what is currently open with Acme Lending"


async def _handed_over(world: World) -> tuple[int, int]:
    """Alice verifies and asks for a person, and Ada claims her ticket; (ticket, Ada)."""
    await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=1)
    await world.say(ALICE, "1001", expect=3)
    texts = await world.say(ALICE, "I want to talk to a person", expect=4)
    assert "team" in texts[-1]
    async with world.sessions.begin() as s:
        ada = StaffUser(
            username="ada", display_name="Ada Lovelace", password_hash="x", role="agent",
            failed_logins=0, created_at=utcnow(), updated_at=utcnow(),
        )  # fmt: skip
        s.add(ada)
        await s.flush()
        ticket_id = await s.scalar(select(HandoffTicket.id))
        assert (await claims.claim(s, ticket_id, ada.id, utcnow(), POLICY)).won
        return ticket_id, ada.id


async def _heard(world: World, text: str) -> ContactLog:
    """Alice's message, once its turn has committed (with whatever the bot stored to say)."""
    for _ in range(200):
        async with world.sessions() as s:
            row = await s.scalar(
                select(ContactLog).where(ContactLog.direction == "in", ContactLog.text == text)
            )
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} was not recorded")


async def _out(world: World) -> list[ContactLog]:
    async with world.sessions() as s:
        query = select(ContactLog).where(ContactLog.direction == "out").order_by(ContactLog.id)
        return list(await s.scalars(query))


async def _settled(world: World, log_id: int) -> ContactLog:
    for _ in range(200):
        async with world.sessions() as s:
            row = await s.get(ContactLog, log_id)
        if row.status in ("sent", "failed"):
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("the reply was never settled")


async def _events(world: World, kind: str) -> list[dict]:
    async with world.sessions() as s:
        rows = await s.scalars(
            select(ConsoleEvent).where(ConsoleEvent.kind == kind).order_by(ConsoleEvent.id)
        )
        return [{"ticket_id": e.ticket_id, **e.data} for e in rows]


def _sent(world: World) -> list[str]:
    return [m["text"] for m in world.sandbox.bot_messages(BOT, ALICE["id"])]


async def _reply(world: World, ticket_id: int, staff_id: int, text: str) -> agent.ReplyResult:
    sender = world.process.telegram.bot_data["services"].sender
    return await agent.send_reply(
        world.sessions, {"telegram": sender}, ticket_id=ticket_id, staff_id=staff_id, text=text,
        now=utcnow(), policy=POLICY, creditor="Acme Lending",
    )  # fmt: skip


async def test_a_claimed_chat_hears_one_team_notice_and_nothing_else(world: World):
    ticket_id, _ = await _handed_over(world)
    before = len(await _out(world))

    texts = await world.say(ALICE, "hello", expect=5)
    hello = await _heard(world, "hello")

    assert texts[-1] == TEAM
    out = await _out(world)
    assert [r.template_key for r in out[before:]] == ["team_with_you"]
    assert (await _settled(world, out[-1].id)).status == "sent"
    messages = await _events(world, "message")
    assert {"ticket_id": ticket_id, "log_id": hello.id, "direction": "in", "kind": "text"} in (
        messages
    )
    assert messages[-1] == {
        "ticket_id": ticket_id, "log_id": out[-1].id, "direction": "out", "kind": "reply",
    }  # fmt: skip

    # Again, a command, and a press of an old menu button: recorded, and nothing at all said.
    world.sandbox.send_text(BOT, ALICE, "hello again")
    world.sandbox.send_text(BOT, ALICE, "/balance")
    menu = world.sandbox.bot_messages(BOT, ALICE["id"])[2]
    data = menu["reply_markup"]["inline_keyboard"][-1][0]["callback_data"]
    query = world.sandbox.press_button(BOT, ALICE, menu["message_id"], data)
    await _heard(world, "hello again")
    await _heard(world, "/balance")
    await _heard(world, data)
    await asyncio.sleep(0.5)
    assert len(_sent(world)) == 5 and len(await _out(world)) == len(out)
    state = world.sandbox.bot(BOT)
    assert state.callback_queries[query["id"]].answer is not None  # the press was acknowledged
    heard = [e["log_id"] for e in await _events(world, "message") if e["direction"] == "in"]
    assert len(heard) == 4  # hello, hello again, /balance, the press


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_stop_during_a_claim_is_honoured_at_once_and_the_agent_sees_it(world: World):
    ticket_id, _ = await _handed_over(world)

    texts = await world.say(ALICE, "STOP", expect=5)

    assert texts[-1].startswith("Understood. You will not receive any more reminders")
    async with world.sessions() as s:
        assert await s.scalar(select(Debtor.opted_out_at).where(Debtor.debtor_ref == "D-001"))
    stop = await _heard(world, "STOP")
    assert {"ticket_id": ticket_id, "log_id": stop.id, "direction": "in", "kind": "text"} in (
        await _events(world, "message")
    )
    assert (await _events(world, "ticket_changed"))[-1] == {"ticket_id": ticket_id}


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_the_agents_reply_arrives_as_written_and_its_delivery_is_told(world: World):
    ticket_id, ada = await _handed_over(world)
    await world.say(ALICE, "hello", expect=5)

    result = await _reply(world, ticket_id, ada, "<script>alert(1)</script>")

    texts = await world.texts(ALICE, 6)
    assert texts[-1] == "<script>alert(1)</script>"
    assert world.sandbox.bot_messages(BOT, ALICE["id"])[-1]["entities"] == []
    row = await _settled(world, result.log_id)
    sent = world.sandbox.bot_messages(BOT, ALICE["id"])[-1]["message_id"]
    assert (row.kind, row.staff_id, row.status, row.telegram_message_id) == (
        "agent", ada, "sent", sent,
    )  # fmt: skip
    assert (await _events(world, "delivery"))[-1] == {
        "ticket_id": ticket_id, "log_id": row.id, "status": "sent", "error": None,
    }  # fmt: skip


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_a_reply_to_a_chat_that_blocked_the_bot_fails_with_telegrams_reason(
    world: World,
):
    ticket_id, ada = await _handed_over(world)
    await world.say(ALICE, "hello", expect=5)
    world.sandbox.block(BOT, ALICE)

    result = await _reply(world, ticket_id, ada, "Are you still there?")

    reason = "Forbidden: bot was blocked by the user"
    assert (result.refusal, result.error) == (None, reason)
    row = await _settled(world, result.log_id)
    assert (row.status, row.error) == ("failed", f"forbidden: {reason}")
    assert (await _events(world, "delivery"))[-1] == {
        "ticket_id": ticket_id, "log_id": row.id, "status": "failed",
        "error": f"forbidden: {reason}",
    }  # fmt: skip
    assert len(_sent(world)) == 5


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_handing_back_tells_the_debtor_and_the_bot_answers_again(world: World):
    ticket_id, ada = await _handed_over(world)
    await world.say(ALICE, "hello", expect=5)
    sender = world.process.telegram.bot_data["services"].sender

    await agent.hand_back(
        world.sessions, {"telegram": sender}, ticket_id=ticket_id, staff_id=ada, now=utcnow(),
        creditor="Acme Lending",
    )  # fmt: skip

    texts = await world.texts(ALICE, 6)
    assert texts[-1].startswith("Thank you for talking with our team.")
    async with world.sessions() as s:
        ticket = await s.get(HandoffTicket, ticket_id)
    assert (ticket.status, ticket.outcome) == ("resolved", "handed_back")
    texts = await world.say(ALICE, "/balance", expect=7)
    assert texts[-1].startswith(SUMMARY)

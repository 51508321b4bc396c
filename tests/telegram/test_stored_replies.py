"""Replies are stored with the turn and sent after it; the sweep sends what a stopped process
left pending, once, in order, and gives up on what is an hour late."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from bot.channel import Button, OutMessage, ReplyKeyboard
from bot.conversation import replies
from bot.conversation.replies import ReplySweeper
from bot.db.base import utcnow
from bot.db.models import ChannelLink, ContactLog
from bot.db.workers import WorkerLease
from tests.telegram.conftest import ALICE, BOT, World


async def _out(world: World, *, waiting: int = 0) -> list[ContactLog]:
    """The contact log's messages out, once no more than ``waiting`` of them are pending (a
    reply is marked sent just after Telegram has it)."""
    query = select(ContactLog).where(ContactLog.direction == "out").order_by(ContactLog.id)
    for _ in range(100):
        async with world.sessions() as s:
            rows = list((await s.execute(query)).scalars())
        if sum(r.status in ("pending", "sending") for r in rows) <= waiting:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError("replies still pending")


# A process that is no longer running: no lease of that name is alive.
GONE = "gone-host:4242:dead00"


async def _leave_pending(
    world: World, messages: list[OutMessage], age: timedelta, by: str = GONE
) -> list[int]:
    """What a process ``by`` that committed a turn and died before sending leaves behind."""
    async with world.sessions.begin() as s:
        link = (await s.execute(select(ChannelLink))).scalars().first()
        stored = await replies.queue(
            s, channel="telegram", chat_id=ALICE["id"], debtor_id=link.debtor_id if link else None,
            messages=messages, locale="en_US", at=utcnow() - age, claimed_by=by,
        )  # fmt: skip
    return [log_id for log_id, _, _ in stored]


async def test_a_reply_is_stored_with_its_keyboard_then_marked_sent(world: World) -> None:
    await world.say(ALICE, "hello", expect=1)
    await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=2)

    sent = world.sandbox.bot_messages(BOT, ALICE["id"])
    rows = await _out(world)
    assert [(r.status, r.error) for r in rows] == [("sent", None)] * 2
    assert [r.telegram_message_id for r in rows] == [m["message"]["message_id"] for m in sent]
    assert all(r.sent_at is not None for r in rows)
    # The greeting after /start asks for the phone number with Telegram's contact keyboard.
    assert sent[1]["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert rows[1].markup == {"buttons": [], "keyboard": "share_contact", "locale": "en_US"}


async def test_the_sweep_sends_what_a_stopped_process_left_pending_once_and_in_order(
    world: World,
) -> None:
    await world.say(ALICE, "hello", expect=1)
    menu = [[Button("Pay now", url="https://pay.example/acme/ACC-1001")], [Button("Menu", "m")]]
    first, second = await _leave_pending(
        world,
        [OutMessage("First <b>of two</b>"), OutMessage("Second of two", buttons=menu)],
        timedelta(minutes=3),
    )
    # A reply another live process holds is its own to send, however long it has waited.
    alive = WorkerLease(world.sessions)
    await alive.start()
    (held,) = await _leave_pending(
        world, [OutMessage("Held")], timedelta(minutes=5), by=alive.name
    )
    (late,) = await _leave_pending(world, [OutMessage("Far too late")], timedelta(hours=2))
    sweeper = world.process.replies

    # Two processes sweeping at the same moment send each reply once.
    other = ReplySweeper(world.sessions, sweeper.sender, utcnow)
    taken = await asyncio.gather(sweeper.sweep(), other.sweep())

    assert sorted(taken) == [0, 2]
    texts = await world.texts(ALICE, 3)
    assert texts[1:] == ["First of two", "Second of two"]
    shown = world.sandbox.bot_messages(BOT, ALICE["id"])[2]["reply_markup"]["inline_keyboard"]
    assert shown == [
        [{"text": "Pay now", "url": "https://pay.example/acme/ACC-1001"}],
        [{"text": "Menu", "callback_data": "m"}],
    ]
    rows = {r.id: r for r in await _out(world, waiting=1)}
    assert [rows[i].status for i in (first, second, held, late)] == [
        "sent",
        "sent",
        "pending",
        "failed",
    ]
    assert rows[late].error == "not sent: the bot stopped first"
    delivered = world.sandbox.bot_messages(BOT, ALICE["id"])[1:]
    assert [rows[first].telegram_message_id, rows[second].telegram_message_id] == [
        m["message"]["message_id"] for m in delivered
    ]
    # Nothing more to do, then or a moment later.
    assert await sweeper.sweep() == 0
    await asyncio.sleep(0.2)
    assert len(world.sandbox.bot_messages(BOT, ALICE["id"])) == 3
    await alive.stop()


async def test_a_chat_that_blocked_the_bot_gets_nothing_and_the_rest_is_marked_failed(
    world: World,
) -> None:
    await world.say(ALICE, "hello", expect=1)
    ids = await _leave_pending(
        world,
        [OutMessage("One"), OutMessage("Two", reply_keyboard=ReplyKeyboard.REMOVE)],
        timedelta(minutes=5),
    )
    world.sandbox.block(BOT, ALICE)

    assert await world.process.replies.sweep() == 2

    rows = {r.id: r for r in await _out(world)}
    assert rows[ids[0]].status == "failed" and rows[ids[0]].error.startswith("forbidden")
    assert (rows[ids[1]].status, rows[ids[1]].error) == (
        "failed",
        "not sent: an earlier reply failed",
    )
    assert len(world.sandbox.bot_messages(BOT, ALICE["id"])) == 1


async def test_a_reply_a_stopped_process_was_sending_is_settled_as_unknown_not_resent(
    world: World,
) -> None:
    await world.say(ALICE, "hello", expect=1)
    (cut,) = await _leave_pending(world, [OutMessage("On its way")], timedelta(seconds=5))
    (fresh,) = await _leave_pending(world, [OutMessage("Never begun")], timedelta(seconds=5))
    async with world.sessions.begin() as s:
        await s.execute(update(ContactLog).where(ContactLog.id == cut).values(status="sending"))

    # Taken over at once, not after a fixed wait: its process's lease has run out.
    assert await world.process.replies.sweep() == 1

    rows = {r.id: r for r in await _out(world)}
    assert (rows[cut].status, rows[cut].error) == (
        "failed",
        "interrupted: delivery unknown, not resent",
    )
    assert rows[fresh].status == "sent"
    assert (await world.texts(ALICE, 2))[1:] == ["Never begun"]
    await asyncio.sleep(0.2)
    assert len(world.sandbox.bot_messages(BOT, ALICE["id"])) == 2


async def test_a_reply_this_process_left_behind_after_a_failure_is_sent_by_its_next_sweep(
    world: World,
) -> None:
    await world.say(ALICE, "hello", expect=1)
    mine = world.process.replies.sender.lease.name
    # Stored by this very process, whose sending then failed (the database went away, say):
    # nobody is working on it, so after a while its own sweep sends it.
    (young,) = await _leave_pending(
        world, [OutMessage("Just stored")], timedelta(seconds=5), by=mine
    )
    (stray,) = await _leave_pending(
        world, [OutMessage("Left behind")], timedelta(minutes=1), by=mine
    )

    assert await world.process.replies.sweep() == 1

    assert (await world.texts(ALICE, 2))[1:] == ["Left behind"]
    rows = {r.id: r for r in await _out(world, waiting=1)}
    assert (rows[young].status, rows[stray].status) == ("pending", "sent")

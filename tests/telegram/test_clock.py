"""A bot run on an injected clock writes that clock's time, never the real time, in every row."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.app import running
from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.linking.tokens import issue_links
from tests.helpers import add_debtor, written_times
from tests.telegram.conftest import ALICE, World, bot_settings
from tests.telegram.test_promise import press

# A Monday, 10:00 in London: far from the real time of any run.
AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
# Alice on another phone, a chat not linked yet.
SECOND_PHONE = {"id": 7011, "first_name": "Alice", "language_code": "en"}
# When the test's own rows were written.
SETUP = AT - timedelta(days=20)
# What the test wrote and a turn leaves alone.
UNTOUCHED = {
    ("debtor", "created_at"): {SETUP},
    ("debtor_phone", "created_at"): {SETUP},
    ("account", "created_at"): {SETUP},
    ("account", "updated_at"): {SETUP},
    ("channel_link", "linked_at"): {SETUP},
    ("channel_link", "verified_at"): {SETUP},
}


@pytest.fixture
async def clocked(sandbox, sessions, database_url) -> AsyncIterator[World]:
    """Alice, verified in chat since SETUP, and the bot running with its clock stopped at AT."""
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-001", name="Alice Martin", chat_id=ALICE["id"], timezone="Europe/London",
            accounts=[("ACC-1001", date(2025, 12, 20), 50000, "GBP")], at=SETUP,
        )  # fmt: skip
    settings = bot_settings(database_url, sandbox)
    async with running(
        settings, clock=lambda: AT, rate_limiter=ChatRateLimiter(), reminders=False
    ) as process:
        yield World(sandbox, process, sessions, {}, settings)


async def test_a_conversation_writes_only_the_clock_time(clocked: World):
    await clocked.say(ALICE, "STOP", expect=1)
    await clocked.say(ALICE, "/start", expect=2)
    await clocked.say(ALICE, "/person", expect=3)
    await clocked.process_stop()  # every reply sent and recorded

    async with clocked.sessions() as s:
        assert await written_times(s) == {
            **UNTOUCHED,
            # Opted out and back in, asked for a person (a ticket, and its console event);
            # every message in and out.
            ("debtor", "updated_at"): {AT},
            ("audit_event", "created_at"): {AT},
            ("console_event", "created_at"): {AT},
            ("contact_log", "created_at"): {AT},
            ("contact_log", "sent_at"): {AT},
            ("dialogue_state", "updated_at"): {AT},
            ("handoff_ticket", "opened_at"): {AT},
            ("handoff_ticket", "created_at"): {AT},
            ("handoff_ticket", "updated_at"): {AT},
        }


async def _link_another_chat(world: World) -> None:
    async with world.sessions.begin() as s:
        issued, _ = await issue_links(s, now=SETUP, ttl=timedelta(days=30), rotate=True)
    await world.say(SECOND_PHONE, f"/start {issued[0].token}", expect=1)


async def _change_language(world: World) -> None:
    await world.say(ALICE, "/language", expect=1)
    await press(world, ALICE, "简体中文", expect=3)


async def _dispute(world: World) -> None:
    await world.say(ALICE, "/menu", expect=1)
    await press(world, ALICE, "Dispute or complaint", expect=2)
    await press(world, ALICE, "I do not think I owe this", expect=3)


async def _pause(world: World) -> None:
    await world.say(ALICE, "/menu", expect=1)
    await press(world, ALICE, "I can't pay right now", expect=2)
    await press(world, ALICE, "I can pay, but not yet", expect=3)
    await press(world, ALICE, "Pause reminders for 30 days", expect=4)


async def _promise_twice(world: World) -> None:
    sent = 0
    for _ in range(2):
        await world.say(ALICE, "/promise", expect=sent + 1)
        await world.say(ALICE, "in 3 days", expect=sent + 2)
        await world.say(ALICE, "£100", expect=sent + 3)
        await press(world, ALICE, "Confirm", expect=sent + 4)
        sent += 4


# Writers that once left a timestamp to a real-time column default.
WRITERS = [
    ("verify", "linking/verify.py creates dialogue_state without updated_at", _link_another_chat),
    ("language", "dialogues/router.py sets debtor.locale without updated_at", _change_language),
    ("dispute", "dialogues/situations.py sets account.dispute_at, not updated_at", _dispute),
    ("pause", "dialogues/situations.py sets debtor.hardship_until, not updated_at", _pause),
    ("promise", "dialogues/promise.py cancels a promise without updated_at", _promise_twice),
]


@pytest.mark.parametrize(
    "steps",
    [pytest.param(steps, id=name) for name, _, steps in WRITERS],
)  # fmt: skip
async def test_each_dialogue_writer_writes_the_clocks_time(
    clocked: World, steps: Callable[[World], Awaitable[None]]
):
    await steps(clocked)
    await clocked.process_stop()

    async with clocked.sessions() as s:
        times = await written_times(s)
    assert {column: t for column, t in times.items() if not t <= {SETUP, AT}} == {}

"""The console's live feed on the real database: nothing committed is ever skipped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.handoff import events
from bot.web.console.live import GAP_SECONDS, Feed, catch_up

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def publish(sessions, kind="ticket_opened", ticket_id=1) -> None:
    async with sessions.begin() as s:
        events.publish(s, kind, now=NOW, ticket_id=ticket_id)


async def test_the_feed_starts_at_the_newest_event_and_reads_each_new_one_once(sessions):
    await publish(sessions, ticket_id=1)
    feed = Feed(sessions)
    await feed.start_from()
    assert await feed.read_once() == []
    await publish(sessions, ticket_id=2)
    await publish(sessions, ticket_id=3)
    assert [e.ticket_id for e in await feed.read_once()] == [2, 3]
    assert await feed.read_once() == []
    assert feed.safe == feed.last


async def test_an_event_committed_after_a_later_one_is_still_delivered(sessions, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time, so ids commit in order")
    feed = Feed(sessions, monotonic=Clock())
    await feed.start_from()
    slow = sessions()
    await slow.begin()
    events.publish(slow, "message", now=NOW, ticket_id=7)
    await slow.flush()  # takes the lower id, not yet committed
    await publish(sessions, ticket_id=8)

    first = await feed.read_once()
    assert [e.ticket_id for e in first] == [8]
    assert feed.safe < first[0].id  # a page resuming now starts below the missing id

    await slow.commit()
    await slow.close()
    second = await feed.read_once()
    assert [e.ticket_id for e in second] == [7]
    assert feed.safe == feed.last == first[0].id


async def test_a_gap_left_by_a_rolled_back_transaction_is_given_up_after_a_while(sessions, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite reuses the ids of a rolled-back insert: no gap")
    clock = Clock()
    feed = Feed(sessions, monotonic=clock)
    await feed.start_from()
    async with sessions() as s:
        await s.begin()
        events.publish(s, "message", now=NOW, ticket_id=7)
        await s.flush()
        await s.rollback()
    await publish(sessions, ticket_id=8)
    (eight,) = await feed.read_once()
    assert feed.safe == eight.id - 2
    clock.t += GAP_SECONDS + 1
    assert await feed.read_once() == []
    assert feed.safe == eight.id


async def test_a_page_reconnecting_gets_everything_after_what_it_saw(sessions):
    for ticket_id in range(1, 6):
        await publish(sessions, ticket_id=ticket_id)
    everything = await catch_up(sessions, 0, safe=10**9)
    assert [m["ticket_id"] for m in everything] == [1, 2, 3, 4, 5]
    after_second = await catch_up(sessions, everything[1]["id"], safe=10**9)
    assert [m["ticket_id"] for m in after_second] == [3, 4, 5]


async def test_every_subscriber_receives_each_event_and_reading_stops_without_any(sessions):
    feed = Feed(sessions, poll=0.01)
    one, two = feed.subscribe(), feed.subscribe()
    await asyncio.sleep(0.1)  # the feed has started from the newest event
    await publish(sessions, ticket_id=42)
    got = [await asyncio.wait_for(q.get(), 5) for q in (one, two)]
    assert [m["ticket_id"] for m in got] == [42, 42]
    feed.unsubscribe(one)
    feed.unsubscribe(two)
    await asyncio.sleep(0.1)
    assert feed._task is not None and feed._task.done()
    await feed.stop()


def test_an_unknown_kind_of_event_is_refused():
    with pytest.raises(ValueError, match="unknown console event"):
        events.publish(None, "gossip", now=NOW)  # type: ignore[arg-type]

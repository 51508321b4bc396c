"""Sending limits shared through PostgreSQL hold for the bot as a whole: two processes (two
engines, two limiters) sending to one chat keep its spacing, together they keep the bot's
overall rate, and a 429 one of them hears pauses the other."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from bot.channels.telegram.ratelimit import ChatRateLimiter, SharedPace
from bot.db.engine import create_engine, is_sqlite


@pytest.fixture
async def two(database_url, engine):
    if is_sqlite(database_url):
        pytest.skip("on SQLite one process sends, and its limits are kept in memory")
    engines = [create_engine(database_url) for _ in range(2)]
    yield engines
    for each in engines:
        await each.dispose()


def _limiters(engines, global_rate: float, chat_rate: float) -> list[ChatRateLimiter]:
    return [
        ChatRateLimiter(pace=SharedPace(e, global_rate, chat_rate, channel="telegram"))
        for e in engines
    ]


async def _send(limiter: ChatRateLimiter, chat_id: int) -> float:
    async def request() -> float:
        return time.monotonic()

    return await limiter.process_request(
        request, (), {}, "sendMessage", {"chat_id": chat_id}, None
    )


async def test_one_chat_keeps_its_spacing_whichever_process_sends(two):
    limiters = _limiters(two, global_rate=1000, chat_rate=5)  # 0.2 s apart in a chat
    times = sorted(await asyncio.gather(*(_send(limiters[n % 2], 42) for n in range(6))))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) > 0.18, gaps
    # ... and not much more: the chat is served as soon as its slot comes.
    assert times[-1] - times[0] < 5 * 0.2 + 0.3


async def test_two_processes_together_keep_the_bots_overall_rate(two):
    limiters = _limiters(two, global_rate=50, chat_rate=1)  # 20 ms apart overall
    times = sorted(await asyncio.gather(*(_send(limiters[n % 2], 1000 + n) for n in range(60))))
    span = times[-1] - times[0]
    assert span >= 59 / 50 * 0.95, span
    assert span < 59 / 50 * 1.5, span  # each process alone would take half as long
    # No second holds more than the limit, from whichever process.
    assert max(sum(t <= s + 1.0 for t in times[i:]) for i, s in enumerate(times)) <= 51


async def test_a_429_one_process_hears_pauses_the_other(two):
    first, second = _limiters(two, global_rate=100, chat_rate=1)
    await _send(second, 1)
    await first.pace.pause(0.6)
    began = time.monotonic()
    sent = await _send(second, 2)
    assert sent - began > 0.55

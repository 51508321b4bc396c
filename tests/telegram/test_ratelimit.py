"""The rate limiter's spacing, measured on its own clock: a chat's messages a second apart;
taking the buttons off an answered message does not hold the chat's next message back."""

from __future__ import annotations

import time

from bot.channels.telegram.ratelimit import ChatRateLimiter


async def _call(limiter: ChatRateLimiter, endpoint: str, chat_id: int) -> float:
    async def send() -> float:
        return time.monotonic()

    return await limiter.process_request(send, (), {}, endpoint, {"chat_id": chat_id}, None)


async def test_messages_to_one_chat_wait_their_turn_and_removing_buttons_does_not():
    limiter = ChatRateLimiter(global_rate=1000, per_chat_rate=5)  # 0.2 s apart in a chat
    began = time.monotonic()
    first = await _call(limiter, "sendMessage", 1)
    removed = await _call(limiter, "editMessageReplyMarkup", 1)
    second = await _call(limiter, "sendMessage", 1)
    edited = await _call(limiter, "editMessageText", 1)
    assert first - began < 0.05 and removed - first < 0.05
    assert 0.18 < second - first < 0.3  # the removal took no turn of the chat's
    assert 0.18 < edited - second < 0.3  # a changed text is something new to read

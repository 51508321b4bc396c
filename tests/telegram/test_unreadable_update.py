"""An update python-telegram-bot cannot read is skipped: polling goes on, the webhook takes it,
the chat's next message is answered, and nothing the person wrote reaches the log."""

from __future__ import annotations

import asyncio
import logging

from tests.telegram.conftest import ALICE, BOT, World

SECRET = "my card number is 4111 1111 1111 1111"


async def test_an_unreadable_update_is_skipped_and_the_next_one_answered(
    world: World, caplog
) -> None:
    # The level the bot runs at (nudgebot run logs INFO and up).
    caplog.set_level(logging.INFO)
    state = world.sandbox.bot(BOT)
    # What a Bot API change python-telegram-bot does not know could look like: a date it
    # cannot read, in an otherwise ordinary message of Alice's chat.
    unreadable = {
        "message_id": 99,
        "date": "soon",
        "chat": {"id": ALICE["id"], "type": "private", "first_name": "Alice"},
        "from": {"id": ALICE["id"], "is_bot": False, "first_name": "Alice"},
        "text": SECRET,
    }
    skipped = state.push_update("message", unreadable)

    answers = await world.say(ALICE, "hello", expect=1)

    assert len(answers) == 1
    assert f"update {skipped['update_id']} could not be read (TypeError)" in caplog.text
    assert "4111" not in caplog.text
    # Telegram is told it is done with (by the next poll, or the webhook's answer).
    for _ in range(50):
        if all(u["update_id"] != skipped["update_id"] for u in state.updates):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the unreadable update is still pending at Telegram")

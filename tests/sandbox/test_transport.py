"""Request encodings the Bot API accepts, replies, and the server's lifecycle."""

import asyncio
import json
import time

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot.sandbox import BotApiServer

pytestmark = pytest.mark.timeout(15)

TOKEN = "123456:AAE-sandbox-test-token"
BOT_NAME = "nudge_test_bot"


async def test_query_string_and_multipart_bodies(server: BotApiServer, started: int) -> None:
    url = f"{server.api_url}{TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    form = aiohttp.FormData()
    form.add_field("chat_id", str(started))
    form.add_field("text", "multipart")
    form.add_field("reply_markup", json.dumps(markup))
    form.add_field("document", b"ignored", filename="note.txt")
    async with aiohttp.ClientSession() as http:
        async with http.get(url, params={"chat_id": started, "text": "query"}) as response:
            by_query = await response.json()
        async with http.post(url, data=form) as response:
            by_multipart = await response.json()

    assert by_query["result"]["text"] == "query"
    assert (by_multipart["result"]["text"], by_multipart["result"]["reply_markup"]) == (
        "multipart",
        markup,
    )


async def test_replies_quote_the_target_or_fail(tg: Bot, started: int) -> None:
    reply = await tg.send_message(started, "Got it", reply_to_message_id=1)

    assert reply.reply_to_message.text == "/start"
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await tg.send_message(started, "Lost", reply_to_message_id=99)


async def test_callback_query_can_be_answered_once(
    server: BotApiServer, tg: Bot, started: int
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ok", callback_data="ok")]])
    sent = await tg.send_message(started, "Confirm?", reply_markup=keyboard)
    query = server.press_button(BOT_NAME, started, sent.message_id, "ok")

    await tg.answer_callback_query(query["id"])
    with pytest.raises(BadRequest, match="Query is too old"):
        await tg.answer_callback_query(query["id"])
    await tg.edit_message_reply_markup(started, sent.message_id)

    assert server.bot_messages(BOT_NAME, started)[0]["reply_markup"] is None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await tg.edit_message_reply_markup(started, sent.message_id)


async def test_stop_ends_pending_long_polls_at_once() -> None:
    server = BotApiServer()
    server.add_bot(TOKEN, BOT_NAME)
    await server.start()
    async with Bot(TOKEN, base_url=server.api_url) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=10))
        await asyncio.sleep(0.1)
        begin = time.monotonic()
        await server.stop()
        updates = await poll

    assert updates == ()
    assert time.monotonic() - begin < 2

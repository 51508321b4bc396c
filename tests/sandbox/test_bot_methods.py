"""Bot API methods as python-telegram-bot's Bot sees them."""

import asyncio
import datetime as dtm
import time
import warnings

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter

from bot.sandbox import BotApiServer, RateLimits

TOKEN = "123456:AAE-sandbox-test-token"
BOT_NAME = "nudge_test_bot"
USER = {"id": 5001, "first_name": "Ada", "last_name": "Lovelace", "language_code": "en"}

pytestmark = [
    pytest.mark.timeout(15),
    # PTB itself reads the deprecated int-valued RetryAfter.retry_after while building the error.
    pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"),
]


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def test_get_me_describes_the_bot(tg: Bot) -> None:
    me = await tg.get_me()

    assert (me.id, me.username, me.first_name, me.is_bot) == (123456, BOT_NAME, "Nudge", True)


async def test_html_message_reaches_the_transcript(
    server: BotApiServer, tg: Bot, started: int
) -> None:
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton("Share my number", request_contact=True)]], one_time_keyboard=True
    )

    sent = await tg.send_message(
        started, "Hello <b>Ada</b> &amp; co", "HTML", reply_markup=keyboard
    )

    assert (sent.text, sent.message_id, sent.chat.id) == ("Hello Ada & co", 2, started)
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 6, 3)]
    transcript = server.transcript(BOT_NAME, started)
    assert [(m["from"], m["text"]) for m in transcript["messages"]] == [
        ("user", "/start"),
        ("bot", "Hello Ada & co"),
    ]
    assert transcript["reply_keyboard"]["keyboard"][0][0] == {
        "text": "Share my number",
        "request_contact": True,
    }

    await tg.send_message(started, "Thanks", reply_markup=ReplyKeyboardRemove())

    assert server.transcript(BOT_NAME, started)["reply_keyboard"] is None


async def test_bad_html_is_a_bad_request(tg: Bot, started: int) -> None:
    with pytest.raises(BadRequest) as caught:
        await tg.send_message(started, "Pay <now>", parse_mode="HTML")

    assert caught.value.message == (
        'Can\'t parse entities: unsupported start tag "now" at byte offset 4'
    )


async def test_text_longer_than_4096_characters_is_refused(tg: Bot, started: int) -> None:
    with pytest.raises(BadRequest) as caught:
        await tg.send_message(started, "x" * 4097)

    assert caught.value.message == "Message is too long"
    assert (await tg.send_message(started, "é" * 4096)).text == "é" * 4096


async def test_blank_text_is_refused(tg: Bot, started: int) -> None:
    with pytest.raises(BadRequest) as caught:
        await tg.send_message(started, "<b> </b>", parse_mode="HTML")

    assert caught.value.message == "Message text is empty"


async def test_callback_data_over_64_bytes_is_refused(tg: Bot, started: int) -> None:
    fits = InlineKeyboardMarkup([[InlineKeyboardButton("Pay", callback_data="é" * 32)]])
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("Pay", callback_data="é" * 32 + "a")]])

    await tg.send_message(started, "ok", reply_markup=fits)
    with pytest.raises(BadRequest) as caught:
        await tg.send_message(started, "too long", reply_markup=too_long)

    assert caught.value.message == "Button_data_invalid"


async def test_unknown_and_silent_users_cannot_be_messaged(server: BotApiServer, tg: Bot) -> None:
    server.add_user(777, "Silent")

    with pytest.raises(BadRequest, match="Chat not found"):
        await tg.send_message(999, "hello")
    with pytest.raises(Forbidden) as caught:
        await tg.send_message(777, "hello")

    assert caught.value.message == "Forbidden: bot can't initiate conversation with a user"


async def test_blocked_user_gives_forbidden_and_a_chat_member_update(
    server: BotApiServer, tg: Bot, started: int
) -> None:
    server.block(BOT_NAME, started)

    with pytest.raises(Forbidden) as caught:
        await tg.send_message(started, "Reminder")

    assert caught.value.message == "Forbidden: bot was blocked by the user"
    updates = await tg.get_updates()
    assert updates[-1].my_chat_member.new_chat_member.status == "kicked"
    server.unblock(BOT_NAME, started)
    assert (await tg.send_message(started, "Welcome back")).text == "Welcome back"


async def test_per_chat_flood_limit_answers_retry_after(
    server: BotApiServer, tg: Bot, started: int
) -> None:
    server.set_rate_limits(RateLimits(chat_per_second=1, chat_burst=2))

    await tg.send_message(started, "one")
    await tg.send_message(started, "two")
    with pytest.raises(RetryAfter) as caught:
        await tg.send_message(started, "three")

    assert _seconds(caught.value) == 1
    stats = server.stats(BOT_NAME)
    assert (stats["sent"], stats["too_many_requests"]) == (2, 1)
    assert [d["text"] for d in stats["chats"][str(started)]["delivered"]] == ["one", "two"]


async def test_flood_limit_refills_with_the_injected_clock(tg: Bot) -> None:
    now = [1_700_000_000.0]
    limits = RateLimits(global_per_second=30, global_burst=30, chat_per_second=1, chat_burst=1)
    async with BotApiServer(rate_limits=limits, clock=lambda: now[0]) as server:
        server.add_bot("42:clock", "clock_bot")
        server.send_text("clock_bot", USER, "/start")
        async with Bot("42:clock", base_url=server.api_url) as bot:
            sent = await bot.send_message(USER["id"], "first")
            with pytest.raises(RetryAfter):
                await bot.send_message(USER["id"], "second")
            now[0] += 1.0
            await bot.send_message(USER["id"], "second")

    assert sent.date == dtm.datetime.fromtimestamp(1_700_000_000, dtm.UTC)
    assert server.stats("clock_bot")["too_many_requests"] == 1


async def test_global_flood_limit_spans_chats(server: BotApiServer, tg: Bot) -> None:
    server.set_rate_limits(RateLimits(global_per_second=1, global_burst=3))
    for user_id in range(1, 5):
        server.send_text(BOT_NAME, user_id, "/start")

    for user_id in range(1, 4):
        await tg.send_message(user_id, "hi")
    with pytest.raises(RetryAfter):
        await tg.send_message(4, "hi")


async def test_injected_server_errors_then_recovery(
    server: BotApiServer, tg: Bot, started: int
) -> None:
    server.inject_server_error(BOT_NAME, 2, methods=["sendMessage"])

    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await tg.send_message(started, "retry me")
    await tg.send_message(started, "retry me")

    assert server.bot_texts(BOT_NAME, started) == ["retry me"]
    assert server.stats(BOT_NAME)["errors"] == {"502": 2}


async def test_slow_fault_delays_answers(server: BotApiServer, tg: Bot) -> None:
    server.inject_slow(BOT_NAME, 0.3, count=1, methods=["getMe"])

    begin = time.monotonic()
    await tg.get_me()
    slow = time.monotonic() - begin
    begin = time.monotonic()
    await tg.get_me()
    fast = time.monotonic() - begin

    assert slow >= 0.3 > fast


async def test_edit_delete_and_not_modified(server: BotApiServer, tg: Bot, started: int) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Pay", callback_data="pay")]])
    sent = await tg.send_message(started, "Balance: 10", reply_markup=keyboard)

    with pytest.raises(BadRequest, match="Message is not modified"):
        await tg.edit_message_text("Balance: 10", started, sent.message_id, reply_markup=keyboard)
    edited = await tg.edit_message_text("Balance: 0", started, sent.message_id)
    await tg.delete_message(started, sent.message_id)

    assert (edited.text, edited.reply_markup, edited.edit_date is not None) == (
        "Balance: 0",
        None,
        True,
    )
    entry = server.transcript(BOT_NAME, started)["messages"][-1]
    assert (entry["deleted"], entry["original"]["text"], [e["text"] for e in entry["edits"]]) == (
        True,
        "Balance: 10",
        ["Balance: 0"],
    )
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await tg.delete_message(started, sent.message_id)


async def test_commands_round_trip(tg: Bot) -> None:
    await tg.set_my_commands([BotCommand("start", "Begin"), BotCommand("stop", "No more")])

    assert [c.command for c in await tg.get_my_commands()] == ["start", "stop"]
    await tg.delete_my_commands()
    assert await tg.get_my_commands() == ()


async def test_chat_action_needs_a_reachable_chat(tg: Bot, started: int) -> None:
    assert await tg.send_chat_action(started, "typing") is True
    with pytest.raises(BadRequest, match="Chat not found"):
        await tg.send_chat_action(999, "typing")


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    server: BotApiServer, tg: Bot
) -> None:
    poll = asyncio.create_task(tg.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    begin = time.monotonic()
    server.send_text(BOT_NAME, USER, "/start abc-123")
    updates = await poll

    assert time.monotonic() - begin < 1
    message = updates[0].message
    assert (message.text, message.from_user.first_name, message.chat.type) == (
        "/start abc-123",
        "Ada",
        "private",
    )
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bot_command", 0, 6)]
    assert await tg.get_updates(offset=updates[-1].update_id + 1) == ()


async def test_a_newer_poll_ends_the_older_one_with_conflict(
    server: BotApiServer, tg: Bot
) -> None:
    older = asyncio.create_task(tg.get_updates(timeout=3))
    await asyncio.sleep(0.1)
    async with Bot(TOKEN, base_url=server.api_url) as second_instance:
        await second_instance.get_updates(timeout=0)

    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await older


async def test_raw_http_errors_unknown_method_and_token(server: BotApiServer, tg: Bot) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.api_url}{TOKEN}/sendPigeon") as response:
            unknown_method = (response.status, await response.json())
        async with http.post(f"{server.api_url}999:nope/getMe") as response:
            unknown_token = (response.status, await response.json())

    assert unknown_method == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert unknown_token == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    stranger = Bot("999:nope", base_url=server.api_url)
    try:
        with pytest.raises(InvalidToken):
            await stranger.get_me()
    finally:
        await stranger.request.shutdown()


async def test_json_bodies_are_accepted(server: BotApiServer, started: int) -> None:
    body = {
        "chat_id": started,
        "text": "<i>JSON</i>",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]},
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.api_url}{TOKEN}/sendMessage", json=body) as response:
            answer = await response.json()

    assert answer["ok"] is True
    assert answer["result"]["reply_markup"] == body["reply_markup"]
    assert answer["result"]["entities"] == [{"type": "italic", "offset": 0, "length": 4}]

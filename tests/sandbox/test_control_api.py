"""The sandbox control API over HTTP: playing users, faults, transcripts, stats and reset."""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, NetworkError

from bot.sandbox import BotApiServer

pytestmark = pytest.mark.timeout(15)

BOT_NAME = "nudge_test_bot"
CHAT = 6001


@pytest.fixture
async def http(server: BotApiServer) -> AsyncIterator[aiohttp.ClientSession]:
    """Return an HTTP session rooted at the sandbox."""
    async with aiohttp.ClientSession(base_url=server.base_url) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> Any:
    """Call a control route and return its result, failing the test on an error answer."""
    async with http.request(method, path, json=body) as response:
        answer = await response.json()
    assert answer["ok"] is True, answer
    return answer["result"]


async def test_user_actions_over_http_reach_get_updates(
    http: aiohttp.ClientSession, tg: Bot
) -> None:
    chat = f"/sandbox/bots/{BOT_NAME}/chats/{CHAT}"
    user = {"first_name": "Grace", "username": "grace", "language_code": "fr"}

    await call(http, "POST", f"{chat}/messages", {"text": "/start tok_1", "user": user})
    await call(http, "POST", f"{chat}/contact", {"phone_number": "33612345678"})
    updates = await tg.get_updates()

    assert updates[0].message.from_user.language_code == "fr"
    assert updates[0].message.text == "/start tok_1"
    assert (updates[1].message.contact.phone_number, updates[1].message.contact.user_id) == (
        "33612345678",
        CHAT,
    )


async def test_button_press_over_http_and_transcript(http: aiohttp.ClientSession, tg: Bot) -> None:
    chat = f"/sandbox/bots/{BOT_NAME}/chats/{CHAT}"
    await call(http, "POST", f"{chat}/messages", {"text": "/start"})
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Promise", callback_data="p:7")]])
    sent = await tg.send_message(CHAT, "When can you pay?", reply_markup=keyboard)

    query = await call(
        http, "POST", f"{chat}/callback", {"message_id": sent.message_id, "data": "p:7"}
    )
    await tg.answer_callback_query(query["id"], "Noted")
    transcript = await call(http, "GET", chat)

    assert query["message"]["message_id"] == sent.message_id
    assert [(m["from"], m["text"]) for m in transcript["messages"]] == [
        ("user", "/start"),
        ("bot", "When can you pay?"),
    ]
    assert transcript["messages"][1]["callback_answers"][0]["text"] == "Noted"
    async with http.post(f"{chat}/callback", json={"message_id": 1, "data": "x"}) as response:
        assert response.status == 404


async def test_faults_block_and_server_errors_over_http(
    http: aiohttp.ClientSession, tg: Bot
) -> None:
    base = f"/sandbox/bots/{BOT_NAME}"
    await call(http, "POST", f"{base}/chats/{CHAT}/messages", {"text": "/start"})

    await call(http, "POST", f"{base}/faults", {"kind": "blocked", "chat_id": CHAT})
    with pytest.raises(Forbidden):
        await tg.send_message(CHAT, "hi")
    faults = await call(
        http, "POST", f"{base}/faults", {"kind": "server_error", "count": 1, "status": 500}
    )
    assert faults == [
        {"kind": "server_error", "chat_id": None, "methods": None, "remaining": 1, "status": 500}
    ]
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await tg.get_me()
    await call(http, "DELETE", f"{base}/faults")

    assert (await tg.send_message(CHAT, "hi")).text == "hi"


async def test_rate_limits_stats_and_reset_over_http(
    http: aiohttp.ClientSession, server: BotApiServer, tg: Bot
) -> None:
    base = f"/sandbox/bots/{BOT_NAME}"
    limits = await call(http, "PUT", f"{base}/rate_limits", {"enabled": False})
    await call(http, "POST", f"{base}/chats/{CHAT}/messages", {"text": "/start"})
    for n in range(10):
        await tg.send_message(CHAT, f"m{n}")

    stats = await call(http, "GET", f"{base}/stats")
    assert limits["enabled"] is False
    assert (stats["sent"], stats["too_many_requests"]) == (10, 0)
    assert len(stats["chats"][str(CHAT)]["delivered"]) == 10

    await call(http, "POST", "/sandbox/reset", {})

    assert (await call(http, "GET", "/sandbox/stats"))[BOT_NAME]["sent"] == 0
    assert await call(http, "GET", f"{base}/chats") == []
    async with http.get(f"{base}/chats/{CHAT}") as response:
        assert (response.status, (await response.json())["ok"]) == (404, False)


async def test_registering_bots_and_users_over_http(
    http: aiohttp.ClientSession, server: BotApiServer
) -> None:
    await call(http, "POST", "/sandbox/bots", {"token": "777:other", "username": "other_bot"})
    await call(http, "POST", "/sandbox/users", {"id": 42, "first_name": "Known"})

    bots = await call(http, "GET", "/sandbox/bots")
    async with Bot("777:other", base_url=server.api_url) as other:
        with pytest.raises(Forbidden, match="can't initiate conversation"):
            await other.send_message(42, "hello")

    assert sorted(b["username"] for b in bots) == [BOT_NAME, "other_bot"]

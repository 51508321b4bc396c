"""The aiohttp transport under python-telegram-bot: real requests to a real HTTP server.

Each test starts a small Bot-API-shaped server and talks to it through a real ``Bot`` or the
request object itself, and checks what python-telegram-bot's callers rely on: bodies arrive
as sent, Telegram's errors keep their meaning, and timeouts and refused connections raise
``TimedOut`` and ``NetworkError``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from telegram import Bot, InputFile
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.channels.telegram.transport import AiohttpRequest

TOKEN = "123:transport-test"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a server answering every path with ``handler``; give its base URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def test_a_bot_call_arrives_form_encoded_with_every_parameter(serve) -> None:
    seen: dict[str, object] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["path"] = request.path
        seen["type"] = request.content_type
        seen["form"] = dict(await request.post())
        seen["agent"] = request.headers.get("User-Agent", "")
        return _ok(True)

    base = await serve(handler)
    async with AiohttpRequest() as request:
        bot = Bot(TOKEN, base_url=f"{base}/bot", request=request)
        assert await bot.answer_callback_query("q-1", text="Thanks 谢谢 <b>", show_alert=True)
    assert seen["path"] == f"/bot{TOKEN}/answerCallbackQuery"
    assert seen["type"] == "application/x-www-form-urlencoded"
    assert seen["form"] == {
        "callback_query_id": "q-1",
        "text": "Thanks 谢谢 <b>",
        "show_alert": "true",
    }
    assert "python-telegram-bot" in str(seen["agent"])


async def test_a_file_goes_as_multipart_with_the_other_parameters(serve) -> None:
    seen: dict[str, object] = {}

    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["document"]
        seen.update(
            type=request.content_type,
            chat_id=form["chat_id"],
            filename=upload.filename,
            content=upload.file.read(),
        )
        return _ok({"received": True})

    base = await serve(handler)
    data = RequestData(
        [
            RequestParameter.from_input("chat_id", 42),
            RequestParameter.from_input(
                "document", InputFile(b"statement body", filename="statement.txt")
            ),
        ]
    )
    async with AiohttpRequest() as request:
        result = await request.post(f"{base}/bot{TOKEN}/sendDocument", data)
    assert result == {"received": True}
    assert seen == {
        "type": "multipart/form-data",
        "chat_id": "42",
        "filename": "statement.txt",
        "content": b"statement body",
    }


async def test_telegram_errors_keep_their_meaning(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/sendMessage"):
            body = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            return web.json_response(body, status=400)
        body = {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        }
        return web.json_response(body, status=429)

    base = await serve(handler)
    async with AiohttpRequest() as request:
        bot = Bot(TOKEN, base_url=f"{base}/bot", request=request)
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(1, "hello")
        with pytest.raises(RetryAfter) as raised:
            await bot.answer_callback_query("q")
    assert raised.value.retry_after.total_seconds() == 7


async def test_an_answer_that_stalls_past_the_read_timeout_is_timed_out(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return _ok(True)

    base = await serve(handler)
    async with AiohttpRequest(read_timeout=0.2) as request:
        with pytest.raises(TimedOut):
            await request.post(f"{base}/bot{TOKEN}/getMe")
        # A call's own read timeout wins over the default.
        with pytest.raises(TimedOut):
            await request.post(f"{base}/bot{TOKEN}/getMe", read_timeout=0.1)


async def test_a_full_pool_times_out_after_the_pool_timeout(serve) -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return _ok(True)

    base = await serve(handler)
    async with AiohttpRequest(1, pool_timeout=0.2, read_timeout=5) as request:
        first = asyncio.create_task(request.post(f"{base}/bot{TOKEN}/getMe"))
        await asyncio.sleep(0.1)
        with pytest.raises(TimedOut):
            await request.post(f"{base}/bot{TOKEN}/getMe", connect_timeout=0.05)
        release.set()
        assert await first is True


async def test_a_refused_connection_is_a_network_error_not_a_timeout() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AiohttpRequest() as request:
        with pytest.raises(NetworkError) as raised:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
    assert not isinstance(raised.value, TimedOut)


async def test_a_closed_pool_opens_again_and_refuses_work_while_closed(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return _ok({"n": json.loads(request.query.get("n", "0"))})

    base = await serve(handler)
    request = AiohttpRequest()
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post(f"{base}/bot{TOKEN}/getMe")
    await request.initialize()
    assert await request.post(f"{base}/bot{TOKEN}/getMe?n=1") == {"n": 1}
    await request.shutdown()
    await request.shutdown()  # twice is harmless
    await request.initialize()
    assert await request.post(f"{base}/bot{TOKEN}/getMe?n=2") == {"n": 2}
    await request.shutdown()

"""A local Bot API server that behaves like Telegram, for tests and `nudgebot sandbox`.

python-telegram-bot talks to it unchanged: ``Bot(token, base_url=server.api_url)``.

Bot API: ``/bot{token}/{method}`` (GET or POST; JSON, urlencoded or multipart bodies) answers
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}``
with Telegram's wording, ``parameters.retry_after`` on 429. Implemented methods: getMe,
getUpdates, setWebhook, deleteWebhook, getWebhookInfo, sendMessage, editMessageText,
editMessageReplyMarkup, deleteMessage, answerCallbackQuery, sendChatAction, setMyCommands,
getMyCommands, deleteMyCommands, close, logOut. Unknown token → 401, unknown method → 404.
Command lists are kept per ``scope`` and ``language_code`` and read back exactly (no fallback),
with Telegram's errors for a bad scope, chat or language code.

Control API (the sandbox plays the users). JSON in and out; answers are
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}`` with an HTTP error status.
``{bot}`` is the bot's username; in a private chat ``{chat_id}`` is the user's id.

- ``GET  /sandbox/chat`` — the debtor chat page: a small Telegram-like web chat for trying
  the bot as one of the ``personas``, with no Telegram account. It uses only this control API;
  its HTML, CSS and JavaScript are served from ``/sandbox/static/``.
- ``GET  /sandbox/personas`` — the sample users the chat page offers (``server.personas``,
  set by whoever starts the server): ``name``, ``debtor_ref``, ``phone`` (E.164), ``start``
  (deep-link token) and ``user`` (``id``, ``first_name``, ``language_code``).
- ``GET  /sandbox/bots`` — registered bots. ``POST /sandbox/bots`` ``{"token", "username",
  "first_name"?}`` registers one.
- ``POST /sandbox/users`` ``{"id", "first_name"?, "last_name"?, "username"?,
  "language_code"?}`` — a known user; sending to them before they write gives 403, not 400.
- ``GET  /sandbox/bots/{bot}/chats`` — chat summaries.
- ``GET  /sandbox/bots/{bot}/chats/{chat_id}`` — transcript: ``chat``, ``started``,
  ``blocked``, ``reply_keyboard`` (shown now), ``messages`` in order, both directions, each with
  ``from`` ("user"/"bot"), ``text``, ``entities``, ``reply_markup``, ``contact``, ``deleted``,
  ``original`` and ``edits``, ``callback_answers`` and the Bot API ``message``.
- ``POST /sandbox/bots/{bot}/chats/{chat_id}/messages`` ``{"text", "user"?: profile,
  "reply_to_message_id"?}`` — the user writes; commands get ``bot_command`` entities.
- ``POST /sandbox/bots/{bot}/chats/{chat_id}/contact`` ``{"phone_number", "first_name"?,
  "last_name"?, "contact_user_id"?, "user"?}`` — the user shares a contact: their own unless
  ``contact_user_id`` is given (``null`` for a contact without a Telegram account).
- ``POST /sandbox/bots/{bot}/chats/{chat_id}/callback`` ``{"message_id", "data", "user"?}`` —
  the user presses an inline button; 400 unless that callback_data is on the message now.
  A user who blocked the bot cannot write or press buttons (409) until unblocked.
- ``POST /sandbox/bots/{bot}/chats/{chat_id}/block`` and ``.../unblock``.
- ``GET  /sandbox/bots/{bot}/faults``; ``POST`` ``{"kind": "server_error", "count"?: 1,
  "status"?: 502, "chat_id"?, "methods"?}`` or ``{"kind": "slow", "seconds", "count"?,
  "chat_id"?, "methods"?}`` or ``{"kind": "blocked", "chat_id"}``; ``DELETE`` (``?chat_id=``)
  clears faults and blocks. A fault without ``methods`` hits every method, getUpdates included.
- ``GET``/``PUT /sandbox/bots/{bot}/rate_limits`` — ``RateLimits`` fields.
- ``GET  /sandbox/stats``, ``GET /sandbox/bots/{bot}/stats`` — counters, 429s, per-chat
  delivered messages with timestamps. ``POST /sandbox/reset`` ``{"bot"?}`` (or
  ``POST /sandbox/bots/{bot}/reset``) forgets chats, updates, faults, webhook and counters;
  update ids keep increasing so a running poller still sees new updates.

Every control route is also a method of `BotApiServer` (send_text, share_contact,
press_button, block, unblock, transcript, stats, reset, inject_server_error, inject_slow,
clear_faults, set_rate_limits, ...), and wait_for_bot_messages / wait_until let tests await
the bot's reaction without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any, Self

from aiohttp import web

from bot.sandbox.actions import UserActions
from bot.sandbox.control import add_control_routes
from bot.sandbox.limits import Fault, FloodControl, RateLimits
from bot.sandbox.methods import METHODS, Call
from bot.sandbox.params import Params, read_params
from bot.sandbox.state import ApiError, BotState, SandboxError, SandboxUser
from bot.sandbox.webhook import WebhookDelivery


class BotApiServer(UserActions):
    """The sandbox Bot API server: Telegram's HTTP API plus a control API to play users."""

    def __init__(
        self,
        *,
        rate_limits: RateLimits | None = None,
        clock: Callable[[], float] = time.time,
        strict_html_entities: bool = False,
        webhook_retry_delay: float = 0.05,
        webhook_max_retry_delay: float = 1.0,
        webhook_timeout: float = 5.0,
        personas: list[dict[str, Any]] | None = None,
    ) -> None:
        self.rate_limits = rate_limits or RateLimits()
        self.clock = clock
        self.strict_html_entities = strict_html_entities
        self.bots: dict[str, BotState] = {}
        self.bots_by_token: dict[str, BotState] = {}
        self.users: dict[int, SandboxUser] = {}
        self.personas: list[dict[str, Any]] = personas if personas is not None else []
        self.webhooks = WebhookDelivery(
            clock, webhook_retry_delay, webhook_max_retry_delay, webhook_timeout
        )
        self.closing = False
        self.base_url = ""
        self._closed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def add_bot(
        self, token: str, username: str = "nudge_test_bot", first_name: str | None = None
    ) -> dict[str, Any]:
        """Register a bot by token ("123456:ABC…"; the id is the part before the colon)."""
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise SandboxError(400, "token must look like 123456:ABC-DEF")
        username = username.lstrip("@")
        if username in self.bots:
            raise SandboxError(409, f"bot {username} already exists")
        bot = BotState(token, username, first_name or username, self.rate_limits)
        self.bots[username] = bot
        self.bots_by_token[token] = bot
        return bot.info()

    def bot(self, name: str) -> BotState:
        """Return the bot registered under a username."""
        bot = self.bots.get(name.lstrip("@"))
        if bot is None:
            raise SandboxError(404, f"no bot named {name}")
        return bot

    @property
    def api_url(self) -> str:
        """Return the base_url to give python-telegram-bot (the token follows it)."""
        return f"{self.base_url}/bot"

    @property
    def file_url(self) -> str:
        """Return the base_file_url to give python-telegram-bot."""
        return f"{self.base_url}/file/bot"

    def make_app(self) -> web.Application:
        """Build the aiohttp application serving the Bot API, the control API and the chat page."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_file)
        add_control_routes(app, self)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port) and return the base URL."""
        if self._runner is not None:
            return self.base_url
        self.closing = False
        self._closed = asyncio.Event()
        runner = web.AppRunner(self.make_app(), shutdown_timeout=2.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; pending long polls return at once."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _on_shutdown(self, app: web.Application) -> None:
        self.closing = True
        self._closed.set()
        for bot in self.bots.values():
            bot.notify()
        await self.webhooks.close()

    async def _handle_file(self, request: web.Request) -> web.Response:
        return _answer_error(ApiError(404, "Not Found"))

    async def _handle_api(self, request: web.Request) -> web.Response:
        bot = self.bots_by_token.get(request.match_info["token"])
        if bot is None:
            return _answer_error(ApiError(401, "Unauthorized"))
        name = request.match_info["method"].lower()
        method = METHODS.get(name)
        if method is None:
            return _answer_error(ApiError(404, "Not Found"))
        bot.requests[name] = bot.requests.get(name, 0) + 1
        try:
            params = Params(await read_params(request))
            await self._apply_faults(bot, name, params)
            result = await method(Call(self, bot, params))
        except ApiError as exc:
            bot.count(f"status_{exc.error_code}")
            return _answer_error(exc)
        return web.json_response({"ok": True, "result": result})

    async def _apply_faults(self, bot: BotState, method: str, params: Params) -> None:
        try:
            chat_id = int(params.raw.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            chat_id = None
        slow = bot.faults.take("slow", method, chat_id)
        if slow is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), slow.seconds)
        failure = bot.faults.take("server_error", method, chat_id)
        if failure is not None:
            raise ApiError(failure.status, _status_phrase(failure.status))

    def inject_server_error(
        self,
        bot: str,
        count: int = 1,
        *,
        status: int = 502,
        chat_id: int | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Answer the next `count` matching calls with a 5xx (502 Bad Gateway by default)."""
        fault = Fault("server_error", chat_id, _methods(methods), count, status=status)
        self.bot(bot).faults.add(fault)

    def inject_slow(
        self,
        bot: str,
        seconds: float,
        *,
        count: int | None = None,
        chat_id: int | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Delay matching calls by `seconds` (all of them until cleared, or the next `count`)."""
        fault = Fault("slow", chat_id, _methods(methods), count, seconds=seconds)
        self.bot(bot).faults.add(fault)

    def clear_faults(self, bot: str, chat_id: int | None = None) -> None:
        """Remove injected faults and blocks, all or those of one chat."""
        state = self.bot(bot)
        state.faults.clear(chat_id)
        for user_id, chat in list(state.chats.items()):
            if chat.blocked and chat_id in (None, user_id):
                self.unblock(bot, user_id)

    def faults(self, bot: str) -> list[dict[str, Any]]:
        """Return the active faults of a bot."""
        return [fault.to_json() for fault in self.bot(bot).faults.faults]

    def set_rate_limits(self, limits: RateLimits, bot: str | None = None) -> None:
        """Replace the flood limits of one bot, or the default and every bot's."""
        targets = [self.bot(bot)] if bot is not None else list(self.bots.values())
        if bot is None:
            self.rate_limits = limits
        for state in targets:
            state.flood = FloodControl(limits)

    def stats(self, bot: str | None = None) -> dict[str, Any]:
        """Return counters for one bot, or for every bot keyed by username."""
        if bot is None:
            return {name: self.stats(name) for name in self.bots}
        state = self.bot(bot)
        counters = state.counters
        errors = {k.removeprefix("status_"): v for k, v in counters.items() if "status_" in k}
        return {
            "bot": state.username,
            "sent": counters.get("sent", 0),
            "edited": counters.get("edited", 0),
            "too_many_requests": counters.get("status_429", 0),
            "errors": errors,
            "requests": dict(state.requests),
            "pending_updates": len(state.updates),
            "webhook_deliveries": counters.get("webhook_deliveries", 0),
            "webhook_failures": counters.get("webhook_failures", 0),
            "chats": {
                str(chat_id): {
                    "delivered": list(chat.delivered),
                    "too_many_requests": chat.too_many_requests,
                }
                for chat_id, chat in state.chats.items()
            },
        }

    def reset(self, bot: str | None = None) -> None:
        """Forget chats, updates, faults, webhook and counters of one bot or of all."""
        for state in [self.bot(bot)] if bot is not None else list(self.bots.values()):
            state.reset()


def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    return frozenset(m.lower() for m in methods) if methods is not None else None


def _status_phrase(status: int) -> str:
    phrases = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    return phrases.get(status, "Gateway Timeout" if status == 504 else "Internal Server Error")


def _answer_error(error: ApiError) -> web.Response:
    return web.json_response(error.to_json(), status=error.error_code)

"""HTTP routes of the sandbox control API and chat page; documented in `bot.sandbox.botapi`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox.actions import OWN_USER_ID
from bot.sandbox.limits import RateLimits
from bot.sandbox.state import SandboxError

if TYPE_CHECKING:
    from bot.sandbox.botapi import BotApiServer

Handler = Callable[[web.Request], Awaitable[web.Response]]
Action = Callable[["BotApiServer", web.Request, dict[str, Any]], Any]

STATIC_DIR = Path(__file__).with_name("static")
# The page loads nothing from elsewhere; the policy makes a slip (or injected markup) inert.
CHAT_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def add_control_routes(app: web.Application, server: BotApiServer) -> None:
    """Mount the /sandbox/ routes on an application."""
    bot = "/sandbox/bots/{bot}"
    chat = bot + "/chats/{chat_id}"
    routes = [
        ("GET", "/sandbox/bots", _list_bots),
        ("POST", "/sandbox/bots", _add_bot),
        ("POST", "/sandbox/users", _add_user),
        ("GET", "/sandbox/personas", lambda s, r, b: s.personas),
        ("GET", "/sandbox/stats", lambda s, r, b: s.stats()),
        ("POST", "/sandbox/reset", lambda s, r, b: s.reset(b.get("bot"))),
        ("GET", bot + "/chats", _list_chats),
        ("GET", chat, lambda s, r, b: s.transcript(_name(r), _chat_id(r))),
        ("POST", chat + "/messages", _send_text),
        ("POST", chat + "/contact", _share_contact),
        ("POST", chat + "/callback", _press_button),
        ("POST", chat + "/block", lambda s, r, b: s.block(_name(r), _user(r, b))),
        ("POST", chat + "/unblock", lambda s, r, b: s.unblock(_name(r), _user(r, b))),
        ("GET", bot + "/stats", lambda s, r, b: s.stats(_name(r))),
        ("POST", bot + "/reset", lambda s, r, b: s.reset(_name(r))),
        ("GET", bot + "/faults", lambda s, r, b: s.faults(_name(r))),
        ("POST", bot + "/faults", _add_fault),
        ("DELETE", bot + "/faults", _clear_faults),
        ("GET", bot + "/rate_limits", lambda s, r, b: s.bot(_name(r)).flood.limits.to_json()),
        ("PUT", bot + "/rate_limits", _set_rate_limits),
    ]
    for method, path, action in routes:
        app.router.add_route(method, path, _wrap(server, action))
    app.router.add_get("/sandbox/chat", _chat_page)
    app.router.add_static("/sandbox/static/", STATIC_DIR)


async def _chat_page(request: web.Request) -> web.StreamResponse:
    headers = {"Content-Security-Policy": CHAT_PAGE_POLICY, "Cache-Control": "no-cache"}
    return web.FileResponse(STATIC_DIR / "chat.html", headers=headers)


def _wrap(server: BotApiServer, action: Action) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return _fail(400, "body must be JSON")
            if not isinstance(body, dict):
                return _fail(400, "body must be a JSON object")
        try:
            result = action(server, request, body)
        except SandboxError as exc:
            return _fail(exc.status, exc.message)
        except (KeyError, TypeError, ValueError) as exc:
            return _fail(400, f"bad request: {exc!r}")
        return web.json_response({"ok": True, "result": result})

    return handler


def _fail(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


def _name(request: web.Request) -> str:
    return request.match_info["bot"]


def _chat_id(request: web.Request) -> int:
    return int(request.match_info["chat_id"])


def _user(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    return {**(body.get("user") or {}), "id": _chat_id(request)}


def _list_bots(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    return [bot.info() for bot in server.bots.values()]


def _add_bot(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    return server.add_bot(
        body["token"], body.get("username", "nudge_test_bot"), body.get("first_name")
    )


def _add_user(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    profile = {k: body[k] for k in ("last_name", "username", "language_code") if k in body}
    return server.add_user(int(body["id"]), body.get("first_name"), **profile)


def _list_chats(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    return [
        {
            "chat": chat.user.chat_api(),
            "started": chat.started,
            "blocked": chat.blocked,
            "messages": len(chat.messages),
        }
        for chat in server.bot(_name(request)).chats.values()
    ]


def _send_text(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    return server.send_text(
        _name(request),
        _user(request, body),
        body["text"],
        reply_to_message_id=body.get("reply_to_message_id"),
    )


def _share_contact(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    return server.share_contact(
        _name(request),
        _user(request, body),
        body["phone_number"],
        first_name=body.get("first_name"),
        last_name=body.get("last_name"),
        contact_user_id=body.get("contact_user_id", OWN_USER_ID),
    )


def _press_button(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    return server.press_button(
        _name(request), _user(request, body), int(body["message_id"]), body["data"]
    )


def _add_fault(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    name, kind = _name(request), body.get("kind")
    chat_id = body.get("chat_id")
    if kind == "blocked":
        server.block(name, int(chat_id))  # type: ignore[arg-type]
    elif kind == "server_error":
        server.inject_server_error(
            name,
            int(body.get("count", 1)),
            status=int(body.get("status", 502)),
            chat_id=chat_id,
            methods=body.get("methods"),
        )
    elif kind == "slow":
        server.inject_slow(
            name,
            float(body["seconds"]),
            count=body.get("count"),
            chat_id=chat_id,
            methods=body.get("methods"),
        )
    else:
        raise SandboxError(400, 'kind must be "server_error", "slow" or "blocked"')
    return server.faults(name)


def _clear_faults(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    chat_id = request.query.get("chat_id", body.get("chat_id"))
    server.clear_faults(_name(request), int(chat_id) if chat_id is not None else None)
    return server.faults(_name(request))


def _set_rate_limits(server: BotApiServer, request: web.Request, body: dict[str, Any]) -> Any:
    limits = RateLimits.from_json(body)
    server.set_rate_limits(limits, _name(request))
    return limits.to_json()

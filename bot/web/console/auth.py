"""Sign-in for the console: the middleware every console request passes, login and logout.

Every request but the login page and static files needs a live session (cookie
``nudgebot_session``); every request that changes something needs the session's CSRF token, in
the form field ``csrf`` or the header ``X-CSRF-Token``. The login form has its own token,
double-submitted in a short-lived cookie, since there is no session yet to hold one.
"""

from __future__ import annotations

import functools
import hmac
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from bot.staff.accounts import Role, actor_of
from bot.staff.sessions import (
    MAX_TOKEN_CHARS,
    Signed,
    create_session,
    find_session,
    new_token,
    revoke_session,
)
from bot.staff.signin import Reason, Refused, authenticate
from bot.web.console import console_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "nudgebot_session"
LOGIN_CSRF_COOKIE = "nudgebot_login_csrf"
LOGIN_CSRF_SECONDS = 60 * 60
COOKIE_PATH = "/console"
LOGIN_PATH = "/console/login"
HOME = "/console/"
STAFF = web.RequestKey("staff", Signed)
LOGIN_CSRF = web.RequestKey("login_csrf", str)
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Route names that answer without a session.
OPEN_ROUTES = frozenset({"login", "static"})

WRONG = "Wrong username or password."
DISABLED = "This account is disabled. Ask an admin if you need it again."
EXPIRED = "This form has expired; reload the page and try again."
SIGNED_OUT = "You were signed out, so that was not saved. Sign in again and send it once more."


def signed(request: web.Request) -> Signed:
    """The signed-in staff member of a console request (the middleware made sure there is)."""
    return request[STAFF]


def staff_actor(staff: Signed) -> str:
    """How the audit trail names the staff member behind a request: ``staff:<id>``."""
    return actor_of(staff.id)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the session, refuse requests without one, check CSRF on changes."""
    route = request.match_info.route.name
    if route == "static":
        return await handler(request)
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    staff = None
    if token:
        async with console.sessions.begin() as s:
            staff = await find_session(s, token, now=console.clock(), policy=console.policy)
    request[STAFF] = staff
    if route == "login":
        request[LOGIN_CSRF] = _login_token(request)
    elif staff is None:
        return await _unauthenticated(request)
    if request.method not in SAFE_METHODS:
        # The login form double-submits its own token; everything else, the session's.
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "") if route == "login" else staff.csrf
        if not await _csrf_matches(request, expected):
            return await error_page(request, 403, "This form has expired", EXPIRED)
    return await handler(request)


def require_role(role: str) -> Callable[[Handler], Handler]:
    """Let only staff with this role (admins have every role) into the handler; others get
    a 403 page."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            staff = request.get(STAFF)
            if staff is None:
                return await _unauthenticated(request)
            if staff.role not in (role, Role.ADMIN):
                return await error_page(
                    request, 403, "Not for your role", f"This page is for {role}s only."
                )
            return await handler(request)

        return guarded

    return decorate


async def page_context(request: web.Request) -> dict[str, Any]:
    """What the layout needs on every page: the staff member, the CSRF token, the nav item."""
    staff = request.get(STAFF)
    return {
        "staff": staff,
        "csrf": staff.csrf if staff else request.get(LOGIN_CSRF, ""),
        "nav": "",
    }


async def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    """A calm page saying what went wrong, with the layout."""
    context = {**await page_context(request), "title": title, "message": message}
    return aiohttp_jinja2.render_template("error.html", request, context, status=status)


def safe_next(value: object) -> str:
    """Where to go after signing in: a path inside the console, never another site."""
    if not isinstance(value, str) or "\\" in value or any(ord(c) < 32 for c in value):
        return HOME
    parts = urlsplit(value)
    inside = parts.path == COOKIE_PATH or parts.path.startswith(COOKIE_PATH + "/")
    if parts.scheme or parts.netloc or not inside or parts.path.startswith(LOGIN_PATH):
        return HOME
    return value


def add_routes(app: web.Application) -> None:
    """The login page, the login form's target and logout, on the console sub-application."""
    login = app.router.add_resource("/login", name="login")
    login.add_route("GET", login_page)
    login.add_route("POST", sign_in)
    app.router.add_post("/logout", sign_out, name="logout")


async def login_page(request: web.Request) -> web.StreamResponse:
    """The sign-in form (straight on to the console when signed in already)."""
    target = safe_next(request.query.get("next"))
    if request[STAFF] is not None:
        raise web.HTTPFound(target)
    return _login_form(request, target, username="", error=None, status=200)


async def sign_in(request: web.Request) -> web.StreamResponse:
    """Check the username and password; on success a new session and on to ``next``."""
    console = console_of(request)
    form = await request.post()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = safe_next(form.get("next"))
    now = console.clock()
    async with console.sessions.begin() as s:
        outcome = await authenticate(
            s, username, password, now, console.policy, source=request.remote
        )
        if isinstance(outcome, Refused):
            error = _refusal(outcome, now)
        else:
            error = None
            if request[STAFF] is not None:
                await revoke_session(s, request[STAFF].session_id, now=now)
            token, _ = await create_session(
                s, outcome.id, now=now, user_agent=request.headers.get("User-Agent", "")
            )
    if error is not None:
        return _login_form(request, target, username=username, error=error, status=401)
    response = web.Response(status=303, headers={"Location": target})
    response.set_cookie(
        SESSION_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="Lax",
        secure=_secure(request),
    )  # fmt: skip
    response.del_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    """End this session and go back to the sign-in page."""
    console = console_of(request)
    async with console.sessions.begin() as s:
        await revoke_session(s, signed(request).session_id, now=console.clock())
    response = web.Response(status=303, headers={"Location": LOGIN_PATH})
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


def _login_form(
    request: web.Request, target: str, *, username: str, error: str | None, status: int
) -> web.Response:
    token = request[LOGIN_CSRF]
    context = {"next": target, "username": username, "error": error, "csrf": token}
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    if request.cookies.get(LOGIN_CSRF_COOKIE) != token:
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, path=LOGIN_PATH, max_age=LOGIN_CSRF_SECONDS,
            httponly=True, samesite="Lax", secure=_secure(request),
        )  # fmt: skip
    return response


def _refusal(refused: Refused, now: datetime) -> str:
    if refused.reason is Reason.LOCKED and refused.until is not None:
        minutes = max(1, math.ceil((refused.until - now).total_seconds() / 60))
        return (
            "This account is locked after too many failed sign-ins. Try again in"
            f" {minutes} minute{'s' if minutes != 1 else ''} (after"
            f" {refused.until:%H:%M} UTC)."
        )
    if refused.reason is Reason.DISABLED:
        return DISABLED
    return WRONG


def _login_token(request: web.Request) -> str:
    """The login form's CSRF token: the one its cookie holds, or a new one."""
    held = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return held if 0 < len(held) <= MAX_TOKEN_CHARS else new_token()


async def _csrf_matches(request: web.Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        given = (await request.post()).get(CSRF_FIELD)
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


async def _unauthenticated(request: web.Request) -> web.StreamResponse:
    """A page goes to the sign-in form and comes back after; a form sent from a page gets a
    page saying so; anything else (a script, a WebSocket) a bare 401."""
    if request.match_info.route.name == "logout":
        raise web.HTTPSeeOther(LOGIN_PATH)
    if _browser(request):
        if request.method in SAFE_METHODS:
            raise web.HTTPFound(str(URL(LOGIN_PATH).with_query(next=request.rel_url.path_qs)))
        return await error_page(request, 401, "Signed out", SIGNED_OUT)
    return web.json_response({"error": "not signed in", "login": LOGIN_PATH}, status=401)


def _browser(request: web.Request) -> bool:
    """Whether a browser is navigating (to a page, or sending a form), not a script's fetch
    and not a WebSocket."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return False
    if request.headers.get("X-Requested-With"):
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in request.headers.get("Accept", "")


def _secure(request: web.Request) -> bool:
    return request.secure or console_of(request).settings.console_secure_cookies

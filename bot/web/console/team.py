"""Staff accounts in the console: the admins' staff page, and every member's own password.

A password an admin generates is shown once, on the page that answers the form (never in a
redirect's address, never stored), with ``Cache-Control: no-store`` so that Back does not bring it
back from the browser's cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import aiohttp_jinja2
from aiohttp import web

from bot.db.models import StaffUser
from bot.staff.accounts import (
    MIN_PASSWORD,
    Role,
    StaffError,
    create_staff,
    disable_staff,
    enable_staff,
    generate_password,
    list_staff,
    reset_password,
    status_of,
)
from bot.staff.sessions import open_sessions
from bot.staff.signin import change_own_password
from bot.web.console import console_of
from bot.web.console.auth import require_role, signed, staff_actor

DONE = {
    "disabled": "{name} is disabled and signed out everywhere.",
    "enabled": "{name} can sign in again with the password they had.",
}


@dataclass(frozen=True)
class Handed:
    """A password to show once: whose, and whether the account is new."""

    staff: StaffUser
    password: str
    new: bool
    ended: int = 0


def add_routes(app: web.Application) -> None:
    """The staff page and the own-password page on the console sub-application."""
    app.router.add_get("/staff", staff_page)
    app.router.add_post("/staff", add)
    app.router.add_post("/staff/{staff_id:\\d+}/disable", disable)
    app.router.add_post("/staff/{staff_id:\\d+}/enable", enable)
    app.router.add_post("/staff/{staff_id:\\d+}/password", reset)
    app.router.add_get("/account/password", own_password_page)
    app.router.add_post("/account/password", change_password)


async def _render(
    request: web.Request,
    *,
    status: int = 200,
    handed: Handed | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> web.Response:
    console = console_of(request)
    now = console.clock()
    async with console.sessions() as s:
        rows = await list_staff(s)
        live = await open_sessions(s, now=now, policy=console.policy)
    done = DONE.get(request.query.get("done", ""))
    name = next((r.display_name for r in rows if str(r.id) == request.query.get("who")), None)
    context = {
        "nav": "staff",
        "rows": [{"row": r, "status": status_of(r, now), "live": live.get(r.id, 0)} for r in rows],
        "roles": list(Role),
        "handed": handed,
        "error": error,
        "done": done.format(name=name) if done and name else None,
        "form": form or {"username": "", "display_name": "", "role": Role.AGENT},
        "lock_minutes": console.policy.handoff.lock_minutes,
    }
    response = aiohttp_jinja2.render_template("staff.html", request, context, status=status)
    if handed is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@require_role("admin")
async def staff_page(request: web.Request) -> web.Response:
    """Every staff account: role, status, last sign-in, open sessions; forms to change them."""
    return await _render(request)


@require_role("admin")
async def add(request: web.Request) -> web.Response:
    """Add an agent or admin with a generated password, shown once."""
    console, admin = console_of(request), signed(request)
    form = await request.post()
    fields = {k: str(form.get(k, "")).strip() for k in ("username", "display_name", "role")}
    password = generate_password()
    try:
        async with console.sessions.begin() as s:
            staff = await create_staff(
                s, fields["username"], password, fields["role"], now=console.clock(),
                actor=staff_actor(admin), display_name=fields["display_name"],
            )  # fmt: skip
    except StaffError as exc:
        return await _render(request, status=400, error=_sentence(exc), form=fields)
    return await _render(request, handed=Handed(staff, password, new=True))


async def _target(request: web.Request) -> StaffUser:
    async with console_of(request).sessions() as s:
        staff = await s.get(StaffUser, int(request.match_info["staff_id"]))
    if staff is None:
        raise web.HTTPNotFound(text="No such staff account.")
    return staff


async def _switch(
    request: web.Request, done: str, change: Callable[..., Awaitable[object]]
) -> web.Response:
    """Disable or enable the account in the address; the page says what happened or why not."""
    console, admin = console_of(request), signed(request)
    staff = await _target(request)
    try:
        async with console.sessions.begin() as s:
            await change(s, staff.username, now=console.clock(), actor=staff_actor(admin))
    except StaffError as exc:
        return await _render(request, status=409, error=_sentence(exc))
    raise web.HTTPSeeOther(f"/console/staff?done={done}&who={staff.id}")


@require_role("admin")
async def disable(request: web.Request) -> web.Response:
    """Disable an account and end its sessions (not one's own, not the last admin)."""
    return await _switch(request, "disabled", partial(disable_staff, by=signed(request).id))


@require_role("admin")
async def enable(request: web.Request) -> web.Response:
    """Let a disabled account sign in again."""
    return await _switch(request, "enabled", enable_staff)


@require_role("admin")
async def reset(request: web.Request) -> web.Response:
    """A generated password for someone else (shown once); lifts a lock, ends their sessions.
    One's own password is changed on its own page, which asks for the current one."""
    console, admin = console_of(request), signed(request)
    staff = await _target(request)
    if staff.id == admin.id:
        return await _render(
            request, status=409, error="Change your own password on the “Your password” page."
        )
    async with console.sessions.begin() as s:
        changed, password, ended = await reset_password(
            s, staff.username, now=console.clock(), actor=staff_actor(admin)
        )
    return await _render(request, handed=Handed(changed, password, new=False, ended=ended))


def _own_page(
    request: web.Request, *, status: int = 200, error: str | None = None, done: str | None = None
) -> web.Response:
    context = {"nav": "account", "error": error, "done": done, "min_password": MIN_PASSWORD}
    return aiohttp_jinja2.render_template("password.html", request, context, status=status)


async def own_password_page(request: web.Request) -> web.Response:
    """The form to change one's own password."""
    return _own_page(request)


async def change_password(request: web.Request) -> web.Response:
    """Change one's own password; this browser stays signed in, every other one is signed out."""
    console, me = console_of(request), signed(request)
    form = await request.post()
    current, new, again = (str(form.get(k, "")) for k in ("current", "new", "again"))
    if new != again:
        return _own_page(request, status=400, error="The two new passwords differ.")
    async with console.sessions.begin() as s:
        try:
            ended = await change_own_password(
                s, me.id, current, new, now=console.clock(), policy=console.policy,
                keep_session=me.session_id,
            )  # fmt: skip
        except StaffError as exc:
            refused = _sentence(exc)  # committed all the same: a wrong password stays counted
        else:
            refused = None
    if refused is not None:
        return _own_page(request, status=400, error=refused)
    others = f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
    return _own_page(request, done=f"Your password is changed.{others}")


def _sentence(exc: StaffError) -> str:
    """A domain message (lower-case, for the command line) as a sentence for the page."""
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")

"""The queue page: open and claimed tickets, live, and claiming one."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from bot.handoff import claims
from bot.handoff.queue import FILTERS, queue
from bot.handoff.tickets import REASONS, TicketError
from bot.staff.sessions import find_session
from bot.web.console import console_of
from bot.web.console.auth import SESSION_COOKIE, signed
from bot.web.console.live import socket

# What a redirect back to the queue may say; codes only, so no text comes from a URL.
NOTICES = {
    "taken": "Another agent took that ticket a moment before you.",
    "released": "The ticket is back in the queue.",
    "resolved": "The ticket is resolved.",
    "handed_back": "The conversation is back with the bot; the debtor was told.",
    "gone": "That ticket is already resolved.",
    "none": "Nobody is waiting: every ticket has an agent.",
}


def _filters(request: web.Request) -> tuple[str, str | None]:
    show = request.query.get("show", "all")
    reason = request.query.get("reason") or None
    return (show if show in FILTERS else "all"), (reason if reason in REASONS else None)


async def _rows(request: web.Request) -> dict[str, object]:
    console, staff = console_of(request), signed(request)
    show, reason = _filters(request)
    async with console.sessions() as s:
        page = await queue(
            s, console.clock(), console.policy, show=show, staff_id=staff.id, reason=reason
        )
    return {"queue": page, "show": show, "reason": reason, "me": staff.id}


@aiohttp_jinja2.template("queue.html")
async def queue_page(request: web.Request) -> dict[str, object]:
    """The queue, oldest first, with its filters."""
    notice = NOTICES.get(request.query.get("notice", ""))
    by = request.query.get("by", "")
    return {
        **await _rows(request),
        "nav": "queue",
        "reasons": REASONS,
        "filters": FILTERS,
        "notice": notice,
        "by": by[:100],
        "sla": console_of(request).policy.handoff.sla_minutes,
    }


@aiohttp_jinja2.template("queue_rows.html")
async def queue_rows(request: web.Request) -> dict[str, object]:
    """The queue's rows alone, for the live page to swap in."""
    return await _rows(request)


async def claim(request: web.Request) -> web.Response:
    """Take a ticket; of two agents at once one wins, the other is told who did."""
    console, staff = console_of(request), signed(request)
    ticket_id = int(request.match_info["ticket_id"])
    try:
        async with console.sessions.begin() as s:
            result = await claims.claim(s, ticket_id, staff.id, console.clock(), console.policy)
    except TicketError:
        raise web.HTTPSeeOther("/console/?notice=gone") from None
    if not result.won:
        back = URL("/console/").with_query(notice="taken", by=result.holder_name or "")
        raise web.HTTPSeeOther(str(back))
    raise web.HTTPSeeOther(f"/console/tickets/{ticket_id}")


async def claim_next(request: web.Request) -> web.Response:
    """Take the oldest ticket nobody holds, and open it."""
    console, staff = console_of(request), signed(request)
    async with console.sessions.begin() as s:
        result = await claims.claim_next(s, staff.id, console.clock(), console.policy)
    if not result.won:
        raise web.HTTPSeeOther("/console/?notice=none")
    raise web.HTTPSeeOther(f"/console/tickets/{result.ticket_id}")


async def live(request: web.Request) -> web.WebSocketResponse:
    """The page's WebSocket of console events, closed once its session ends (signed out
    elsewhere, disabled, idle): the page then finds itself signed out."""
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")

    async def signed_in() -> bool:
        async with console.sessions() as s:
            now, policy = console.clock(), console.policy
            return await find_session(s, token, now=now, policy=policy, touch=False) is not None

    return await socket(request, console.feed, signed_in=signed_in)


def add_routes(app: web.Application) -> None:
    """The queue's routes on the console sub-application."""
    app.router.add_get("/", queue_page, name="queue")
    app.router.add_get("/queue/rows", queue_rows)
    app.router.add_get("/live", live)
    app.router.add_post("/tickets/{ticket_id:\\d+}/claim", claim)
    app.router.add_post("/next", claim_next)

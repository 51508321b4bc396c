"""The conversation page: the whole history, the debtor's file, replying and acting on a ticket.

The page is three fragments the live script refreshes on their own (the ticket's header with
its actions, the history, the debtor's file) and a reply box. Replies, notes and actions are
plain form posts, so they work without JavaScript; the script sends them in the background
and shows what the server said.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Account, Debtor, HandoffTicket, StaffUser, TicketStatus
from bot.handoff import canned, claims
from bot.handoff.history import dossier, timeline
from bot.handoff.tickets import TicketError
from bot.money import format_money
from bot.policy.window import zone_clock
from bot.services import agent
from bot.staff.sessions import Signed
from bot.web.console import console_of, typed
from bot.web.console.auth import error_page, require_role, signed

MAX_REPLY = 4096
MAX_NOTE = 4000


def _id(request: web.Request) -> int:
    return int(request.match_info["ticket_id"])


async def _ticket(s: AsyncSession, ticket_id: int) -> HandoffTicket:
    ticket = await s.get(HandoffTicket, ticket_id)
    if ticket is None:
        raise web.HTTPNotFound(text="There is no such ticket.")
    return ticket


def holds(ticket: HandoffTicket, staff: Signed) -> bool:
    """Whether the agent holds the ticket (only the holder replies and acts)."""
    return ticket.status == TicketStatus.CLAIMED and ticket.claimed_by == staff.id


async def _context(request: web.Request, s: AsyncSession, ticket_id: int) -> dict[str, object]:
    """Everything the page's fragments show, read in one session."""
    console, staff = console_of(request), signed(request)
    now = console.clock()
    ticket = await _ticket(s, ticket_id)
    debtor = await s.get(Debtor, ticket.debtor_id)
    assert debtor is not None  # a ticket's debtor is a foreign key
    local = now.astimezone(ZoneInfo(debtor.timezone))
    file = await dossier(s, debtor.id, local.date())
    colleagues: list[tuple[int, str]] = []
    if staff.role == "admin":
        found = await s.execute(
            select(StaffUser.id, StaffUser.display_name)
            .where(StaffUser.disabled_at.is_(None))
            .order_by(StaffUser.display_name)
        )
        colleagues = [(row[0], row[1]) for row in found.all()]
    return {
        "nav": "queue",
        "ticket": ticket,
        "debtor": debtor,
        "file": file,
        "mine": holds(ticket, staff),
        "local_time": f"{local:%H:%M %a}",
        "in_window": zone_clock(debtor.timezone, now, console.policy.window).in_window,
        "outcomes": claims.OUTCOMES,
        "colleagues": colleagues,
        "max_reply": MAX_REPLY,
        "canned": await canned.for_locale(s, debtor.locale),
        "owed_accounts": [
            (a.id, a.account_ref, a.currency, format_money(a.amount_due_minor, a.currency, "en"))
            for a in await s.scalars(
                select(Account).where(Account.debtor_id == debtor.id).order_by(Account.due_date)
            )
            if a.owed
        ],
        "today": local.date(),
        "latest_promise": local.date() + timedelta(days=console.policy.promises.max_days_ahead),
        "latest_pause": local.date() + timedelta(days=console.policy.hardship.max_pause_days),
        "plans": console.policy.plans,
    }


@aiohttp_jinja2.template("conversation.html")
async def page(request: web.Request) -> dict[str, object]:
    """The conversation of a ticket; its holder's view marks the debtor's messages read."""
    console, staff = console_of(request), signed(request)
    ticket_id = _id(request)
    async with console.sessions.begin() as s:
        context = await _context(request, s, ticket_id)
        context["items"] = items = await timeline(s, context["debtor"].id)
        if context["mine"]:
            await _seen(s, ticket_id, staff, items)
    return context


async def _seen(s: AsyncSession, ticket_id: int, staff: Signed, items: list) -> None:
    logs = [int(i.key[4:]) for i in items if i.key.startswith("log-")]
    if logs:
        await agent.mark_seen(s, ticket_id, staff.id, max(logs))


@aiohttp_jinja2.template("conversation_items.html")
async def items(request: web.Request) -> dict[str, object]:
    """Some lines of the history (``?log=1,2&note=3``), or all of it, for the live page."""
    console, staff = console_of(request), signed(request)
    ticket_id = _id(request)
    log_ids, note_ids = _ids(request.query.get("log")), _ids(request.query.get("note"))
    async with console.sessions.begin() as s:
        ticket = await _ticket(s, ticket_id)
        if log_ids is None and note_ids is None:
            found = await timeline(s, ticket.debtor_id)
        else:
            found = await timeline(s, ticket.debtor_id, log_ids=log_ids, note_ids=note_ids)
        if holds(ticket, staff):
            await _seen(s, ticket_id, staff, found)
    return {"items": found}


def _ids(value: str | None) -> list[int] | None:
    if value is None:
        return None
    return [int(part) for part in value.split(",") if part.isdigit()][:200]


@aiohttp_jinja2.template("conversation_head.html")
async def head(request: web.Request) -> dict[str, object]:
    """The ticket's header and actions, for the live page."""
    console = console_of(request)
    async with console.sessions() as s:
        return await _context(request, s, _id(request))


@aiohttp_jinja2.template("conversation_file.html")
async def side(request: web.Request) -> dict[str, object]:
    """The debtor's file, for the live page."""
    console = console_of(request)
    async with console.sessions() as s:
        return await _context(request, s, _id(request))


async def answer(request: web.Request, ok: bool, message: str) -> web.Response:
    """What a post to a ticket gets: JSON for the page's script (200 either way: a refusal is
    an answer, said in ``message``); for a plain form, back to the conversation, or a page
    saying why not."""
    if request.headers.get("Accept", "").startswith("application/json"):
        return web.json_response({"ok": ok, "message": message})
    if not ok:
        return await error_page(request, 409, "Not done", message)
    raise web.HTTPSeeOther(f"/console/tickets/{_id(request)}")


async def reply(request: web.Request) -> web.Response:
    """Send the agent's text to the debtor through the bot, if the rules allow it now."""
    console, staff = console_of(request), signed(request)
    form = await request.post()
    text = typed(form, "text")
    result = await agent.send_reply(
        console.sessions, console.senders, ticket_id=_id(request), staff_id=staff.id, text=text,
        now=console.clock(), policy=console.policy, creditor=console.settings.creditor_name,
        canned=str(form.get("canned", "")),
    )  # fmt: skip
    if result.refusal is not None:
        return await answer(request, False, result.refusal)
    if result.error is not None:
        return await answer(request, False, f"Telegram did not take it: {result.error}")
    return await answer(request, True, "Sent to the debtor.")


async def note(request: web.Request) -> web.Response:
    """Add a private note (never sent)."""
    console, staff = console_of(request), signed(request)
    text = str((await request.post()).get("text", "")).strip()
    if not text:
        return await answer(request, False, "A note needs some text.")
    if len(text) > MAX_NOTE:
        return await answer(request, False, f"Notes are at most {MAX_NOTE} characters.")
    async with console.sessions.begin() as s:
        await _ticket(s, _id(request))
        await agent.add_note(s, _id(request), staff.id, text, console.clock(), console.policy)
    return await answer(request, True, "Note added.")


async def renew(request: web.Request) -> web.Response:
    """The holder is working on the ticket (typing): keep the claim."""
    console, staff = console_of(request), signed(request)
    async with console.sessions.begin() as s:
        kept = await claims.renew(s, _id(request), staff.id, console.clock(), console.policy)
    return web.json_response({"ok": kept})


async def release(request: web.Request) -> web.Response:
    """The holder puts the ticket back in the queue."""
    console, staff = console_of(request), signed(request)
    async with console.sessions.begin() as s:
        released = await claims.release(s, _id(request), staff.id, console.clock())
    if not released:
        return await answer(request, False, "You do not hold this ticket any more.")
    raise web.HTTPSeeOther("/console/?notice=released")


async def resolve(request: web.Request) -> web.Response:
    """Close the ticket with an outcome and a note; the bot takes the chat back."""
    console, staff = console_of(request), signed(request)
    form = await request.post()
    outcome, text = str(form.get("outcome", "")), typed(form, "note").strip()
    if outcome not in claims.OUTCOMES:
        return await answer(request, False, "Choose an outcome.")
    try:
        async with console.sessions.begin() as s:
            await claims.resolve(s, _id(request), staff.id, outcome, text, console.clock())
    except TicketError as exc:
        return await answer(request, False, str(exc))
    raise web.HTTPSeeOther("/console/?notice=resolved")


async def hand_back(request: web.Request) -> web.Response:
    """Give the conversation back to the bot; the debtor is told politely."""
    console, staff = console_of(request), signed(request)
    try:
        await agent.hand_back(
            console.sessions, console.senders, ticket_id=_id(request), staff_id=staff.id,
            now=console.clock(), creditor=console.settings.creditor_name, policy=console.policy,
        )  # fmt: skip
    except TicketError as exc:
        return await answer(request, False, str(exc))
    raise web.HTTPSeeOther("/console/?notice=handed_back")


@require_role("admin")
async def reassign(request: web.Request) -> web.Response:
    """An admin gives the ticket to another agent."""
    console, staff = console_of(request), signed(request)
    to = str((await request.post()).get("to", ""))
    if not to.isdigit():
        return await answer(request, False, "Choose who takes it.")
    try:
        async with console.sessions.begin() as s:
            now, policy = console.clock(), console.policy
            await claims.reassign(s, _id(request), int(to), staff.id, now, policy)
    except TicketError as exc:
        return await answer(request, False, str(exc))
    raise web.HTTPSeeOther(f"/console/tickets/{_id(request)}")


def add_routes(app: web.Application) -> None:
    """The conversation's routes on the console sub-application."""
    base = "/tickets/{ticket_id:\\d+}"
    app.router.add_get(base, page, name="conversation")
    app.router.add_get(f"{base}/items", items)
    app.router.add_get(f"{base}/head", head)
    app.router.add_get(f"{base}/file", side)
    for name, handler in (
        ("reply", reply),
        ("note", note),
        ("renew", renew),
        ("release", release),
        ("resolve", resolve),
        ("handback", hand_back),
        ("reassign", reassign),
    ):
        app.router.add_post(f"{base}/{name}", handler)

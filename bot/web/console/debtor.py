"""The debtor page: a debtor's accounts and why the bot will or will not write to them, now or
at another instant (the decision trace of bot/reminders/explain.py), and finding a debtor by
reference. Any signed-in staff member may look; nothing here changes anything."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select
from yarl import URL

from bot.db.models import HandoffTicket
from bot.policy.window import zone_clock
from bot.reminders.explain import explain, find_debtor
from bot.web.console import console_of
from bot.web.console.why import CHECKS, HOLDS, Words, stage_label

MAX_REF = 64
NO_SUCH = "No such debtor"


def add_routes(app: web.Application) -> None:
    """The debtor page's routes on the console sub-application."""
    app.router.add_get("/debtors", find)
    # A reference may hold any character, a slash too.
    app.router.add_get("/debtors/{debtor_ref:.+}", page, name="debtor")


def debtor_url(ref: str) -> str:
    """The page of the debtor with this reference (quoted: references are the creditor's)."""
    return str(URL("/console/debtors/") / ref)


async def find(request: web.Request) -> web.StreamResponse:
    """A debtor by exact reference, from the page's search box."""
    ref = request.query.get("ref", "").strip()[:MAX_REF]
    if not ref:
        return await _finder(request, "Find a debtor", "Type a debtor's reference.", 200)
    async with console_of(request).sessions() as s:
        debtor = await find_debtor(s, ref)
    if debtor is None:
        return await _finder(request, NO_SUCH, f"No debtor has the reference “{ref}”.", 404)
    raise web.HTTPSeeOther(debtor_url(debtor.debtor_ref))


async def page(request: web.Request) -> web.StreamResponse:
    """The debtor's accounts and the decision trace at ``?at=`` (their local time) or now."""
    console = console_of(request)
    ref = request.match_info["debtor_ref"]
    async with console.sessions() as s:
        debtor = await find_debtor(s, ref)
        if debtor is None:
            said = f"No debtor has the reference “{ref[:MAX_REF]}”."
            return await _finder(request, NO_SUCH, said, 404)
        now, asked = console.clock(), request.query.get("at", "")
        at = _local_instant(asked, ZoneInfo(debtor.timezone))
        trace = await explain(s, console.policy, debtor.id, at or now)
        ticket = await s.scalar(
            select(HandoffTicket.id)
            .where(HandoffTicket.debtor_id == debtor.id)
            .order_by(HandoffTicket.id.desc())
            .limit(1)
        )
    context = {
        "nav": "",
        "t": trace,
        "say": Words(trace),
        "checks": CHECKS,
        "holds": HOLDS,
        "stage_label": stage_label,
        "ticket_id": ticket,
        # The header shows their clock now, whatever instant the trace is for.
        "now": now,
        "open_now": zone_clock(debtor.timezone, now, console.policy.window).in_window,
        "at_value": f"{trace.clock.local_now:%Y-%m-%dT%H:%M}",
        "chosen": at is not None,
        "unreadable": bool(asked) and at is None,
        "self_url": debtor_url(debtor.debtor_ref),
    }
    return aiohttp_jinja2.render_template("debtor.html", request, context)


def _local_instant(value: str, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` value read on the debtor's clock, as UTC (None if unreadable)."""
    try:
        local = datetime.fromisoformat(value[:32])
    except ValueError:
        return None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.astimezone(UTC)


async def _finder(request: web.Request, title: str, message: str, status: int) -> web.Response:
    """The search box alone, saying why (a polite 404 for a reference nobody has)."""
    context = {"t": None, "missing_title": title, "missing": message}
    return aiohttp_jinja2.render_template("debtor.html", request, context, status=status)

"""Canned replies: the admins' editor page, and one reply filled in for an agent's debtor."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from bot.compliance.records import audit
from bot.db.models import CannedReply, Debtor, HandoffTicket
from bot.handoff import canned
from bot.i18n import SUPPORTED_LOCALES
from bot.web.console import console_of, typed
from bot.web.console.auth import require_role, signed, staff_actor


def _editor(
    rows: list[CannedReply], *, editing: CannedReply | None = None, **extra: object
) -> dict[str, object]:
    return {
        "nav": "canned",
        "rows": rows,
        "locales": SUPPORTED_LOCALES,
        "placeholders": canned.PLACEHOLDERS,
        "editing": editing,
        "form": extra.pop("form", None),
        "error": extra.pop("error", None),
        "saved": extra.pop("saved", None),
    }


@require_role("admin")
async def editor(request: web.Request) -> web.Response:
    """Every canned reply, and a form to add one or change the one asked for."""
    console = console_of(request)
    async with console.sessions() as s:
        rows = await canned.every(s)
        editing = None
        if request.query.get("edit", "").isdigit():
            editing = await s.get(CannedReply, int(request.query["edit"]))
    saved = "Saved." if request.query.get("saved") else None
    return aiohttp_jinja2.render_template(
        "canned.html", request, _editor(rows, editing=editing, saved=saved)
    )


@require_role("admin")
async def save(request: web.Request) -> web.Response:
    """Add or change a canned reply; a mistake in its text is shown, nothing is lost."""
    console, staff = console_of(request), signed(request)
    form = await request.post()
    fields = {k: typed(form, k) for k in ("title", "locale", "body", "id")}
    reply_id = int(fields["id"]) if fields["id"].isdigit() else None
    try:
        async with console.sessions.begin() as s:
            row = await canned.save(
                s, title=fields["title"], locale=fields["locale"], body=fields["body"],
                staff_id=staff.id, now=console.clock(), reply_id=reply_id,
            )  # fmt: skip
            audit(
                s, None, "canned_reply_saved", actor=staff_actor(staff), at=console.clock(),
                detail=f"{row.locale}: {row.title}",
            )  # fmt: skip
    except canned.CannedError as exc:
        async with console.sessions() as s:
            rows = await canned.every(s)
        context = _editor(rows, form=fields, error=str(exc))
        return aiohttp_jinja2.render_template("canned.html", request, context, status=400)
    raise web.HTTPSeeOther("/console/canned?saved=1")


@require_role("admin")
async def remove(request: web.Request) -> web.Response:
    """Delete a canned reply."""
    console, staff = console_of(request), signed(request)
    reply_id = int(request.match_info["reply_id"])
    async with console.sessions.begin() as s:
        await canned.delete(s, reply_id)
        audit(
            s, None, "canned_reply_deleted", actor=staff_actor(staff), at=console.clock(),
            detail=str(reply_id),
        )  # fmt: skip
    raise web.HTTPSeeOther("/console/canned")


async def filled(request: web.Request) -> web.Response:
    """One canned reply filled in for the ticket's debtor, for the reply box."""
    console = console_of(request)
    async with console.sessions() as s:
        ticket = await s.get(HandoffTicket, int(request.match_info["ticket_id"]))
        reply = await s.get(CannedReply, int(request.match_info["reply_id"]))
        if ticket is None or reply is None:
            raise web.HTTPNotFound(text="That canned reply is gone.")
        debtor = await s.get(Debtor, ticket.debtor_id)
        assert debtor is not None
        today = console.clock().astimezone(ZoneInfo(debtor.timezone)).date()
        text = await canned.render_for(
            s, reply, debtor, creditor=console.settings.creditor_name,
            payment_url_template=console.settings.payment_url_template, today=today,
        )  # fmt: skip
    return web.json_response({"text": text, "template": f"{reply.id}:{reply.version}"})


def add_routes(app: web.Application) -> None:
    """The canned replies' routes on the console sub-application."""
    app.router.add_get("/canned", editor)
    app.router.add_post("/canned", save)
    app.router.add_post("/canned/{reply_id:\\d+}/delete", remove)
    app.router.add_get("/tickets/{ticket_id:\\d+}/canned/{reply_id:\\d+}", filled)

"""What an agent records on the debtor's behalf from the conversation page, each audited."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from bot.db.models import Account
from bot.handoff.tickets import TicketError
from bot.money import MoneyError, to_minor
from bot.services import agent
from bot.web.console import console_of
from bot.web.console.auth import signed
from bot.web.console.conversation import answer

ACTIONS = (
    "promise",
    "plan",
    "hardship",
    "dispute_upheld",
    "dispute_rejected",
    "deceased",
    "cease",
)
DONE = {
    "promise": "Promise recorded.",
    "plan": "Plan recorded.",
    "hardship": "Reminders paused.",
    "dispute_upheld": "Dispute upheld: reminders stay stopped.",
    "dispute_rejected": "Dispute rejected: reminders resume as the policy says.",
    "deceased": "Death confirmed: everything to this debtor has stopped.",
    "cease": "Communication ceased: nothing more is sent to this debtor.",
}


class _Bad(ValueError):
    """A form field the agent must correct; the message says which."""


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Bad("Give a date.") from None


async def act(request: web.Request) -> web.Response:
    """Carry out one action on the ticket the agent holds; say what happened or why not."""
    console, staff = console_of(request), signed(request)
    name = request.match_info["action"]
    if name not in DONE:
        raise web.HTTPNotFound(text="There is no such action.")
    form = await request.post()
    field = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    ticket_id, now, policy = int(request.match_info["ticket_id"]), console.clock(), console.policy
    common = {"now": now, "policy": policy}
    try:
        if name in ("deceased", "cease") and field.get("confirm") != "yes":
            raise _Bad("Tick the box to confirm; this cannot be undone from here.")
        async with console.sessions.begin() as s:
            if name in ("promise", "plan"):
                account_id = int(field.get("account", "0") or 0)
            if name == "promise":
                account = await s.get(Account, account_id)
                if account is None:
                    raise _Bad("Choose the account.")
                amount = to_minor(field.get("amount", ""), account.currency)
                await agent.record_promise(
                    s, ticket_id, staff.id, account_id=account_id, amount_minor=amount,
                    promised_date=_date(field.get("date", "")), **common,
                )  # fmt: skip
            elif name == "plan":
                count = field.get("installments", "")
                if not count.isdigit():
                    raise _Bad("Give the number of installments.")
                await agent.record_plan(
                    s, ticket_id, staff.id, account_id=account_id, installments=int(count),
                    **common,
                )  # fmt: skip
            elif name == "hardship":
                until = _date(field.get("until", ""))
                await agent.pause_hardship(s, ticket_id, staff.id, until=until, **common)
            elif name.startswith("dispute_"):
                upheld = name == "dispute_upheld"
                await agent.decide_dispute(s, ticket_id, staff.id, upheld=upheld, **common)
            elif name == "deceased":
                await agent.confirm_death(s, ticket_id, staff.id, **common)
            else:
                await agent.cease_communication(s, ticket_id, staff.id, **common)
    except (_Bad, MoneyError, TicketError) as exc:
        return await answer(request, False, str(exc))
    return await answer(request, True, DONE[name])


def add_routes(app: web.Application) -> None:
    """The actions' route on the console sub-application."""
    app.router.add_post("/tickets/{ticket_id:\\d+}/act/{action}", act)

"""The policy page: the collection policy in force, read-only, in words an admin reads quickly.

The policy is a file (``NUDGEBOT_POLICY_FILE``, else the built-in default) read when the process
starts; this page says which, shows every section, and links each stage to its message.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp_jinja2
from aiohttp import web

from bot.i18n import SUPPORTED_LOCALES
from bot.policy import DEFAULT_POLICY, Policy, Stage
from bot.templates import versions
from bot.web.console import console_of
from bot.web.console.auth import require_role

HOLDS = {
    "opted_out": "The debtor asked to stop (STOP)",
    "cease": "The debtor asked for no more contact",
    "dispute": "An open dispute",
    "deceased": "The debtor was reported deceased",
    "bankruptcy": "Bankruptcy",
    "hardship": "Hardship: reminders paused",
    "open_ticket": "A conversation is with an agent",
    "open_promise": "A promise to pay is open",
    "plan_in_good_standing": "A repayment plan is kept",
}
LAWFUL = frozenset({"opted_out", "cease", "deceased"})
DAYS = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat",
        "sun": "Sun"}  # fmt: skip


@dataclass(frozen=True)
class Section:
    """A part of the policy as label and value pairs."""

    title: str
    rows: list[tuple[str, str]]


def add_routes(app: web.Application) -> None:
    """The policy page's route on the console sub-application."""
    app.router.add_get("/policy", policy_page)


def _plural(n: float, one: str, many: str | None = None) -> str:
    shown = f"{n:g}" if isinstance(n, float) else str(n)
    return f"{shown} {one if n == 1 else (many or one + 's')}"


def dpd_range(stage: Stage) -> str:
    """A stage's days past due in words, e.g. ``6–18 days late``."""
    start, end = stage.from_dpd, stage.to_dpd
    if end < 0:
        return f"{_plural(-start, 'day')} to {_plural(-end, 'day')} before the due date"
    late = "the due date" if end == 0 else f"{_plural(end, 'day')} late"
    if start < 0:
        return f"from {_plural(-start, 'day')} before the due date to {late}"
    if start == 0:
        return f"from the due date to {late}"
    return f"{start}–{end} days late"


def sections(policy: Policy) -> list[Section]:
    """Every part of the policy but the stages, as an admin would say it."""
    w, c, p, pl, hh = (policy.window, policy.caps, policy.promises, policy.plans,
                       policy.handoff)  # fmt: skip
    fees = policy.late_fees
    hours = hh.business_hours
    return [
        Section("Contact", [
            ("Contact window", f"{w.start:%H:%M}–{w.end:%H:%M}, the debtor's local time"),
            ("At most", f"{_plural(c.max_per_7_days, 'proactive message')} in any 7 days"),
            ("At least", f"{_plural(c.min_gap_hours, 'hour')} between two"),
            ("Non-responders",
             f"after {_plural(policy.non_responders.unanswered, 'unanswered reminder')} in a row,"
             " the next goes out at another time of day"),
            ("Final stage", f"from {_plural(policy.final.from_dpd, 'day')} late: no more"
             " reminders, the debtor goes to the agent queue"),
        ]),
        Section("Promises to pay", [
            ("Latest date", f"{_plural(p.max_days_ahead, 'day')} from today"),
            ("Smallest promise", f"{p.min_percent:g}% of what is owed"),
            ("Broken", f"{_plural(p.grace_days, 'day')} after the promised date"),
            ("To an agent", f"after {_plural(p.broken_to_agent, 'broken promise')}"),
        ]),
        Section("Repayment plans", [
            ("Set up alone", f"{pl.min_installments} to {pl.max_installments} installments;"
             " longer plans go to an agent for review"),
            ("First installment", f"{_plural(pl.first_due_in_days, 'day')} after agreeing"),
            ("Between installments", _plural(pl.every_days, "day")),
            ("Reminder", f"{_plural(pl.remind_days_before, 'day')} before each installment"),
            ("Missed", f"{_plural(pl.grace_days, 'day')} after its date"),
            ("Broken plan", "back to stage reminders" if pl.on_break == "stages"
             else "to an agent"),
            ("Review answer promised", f"within {_plural(pl.review_answer_days, 'day')}"),
        ]),
        Section("Hardship and fees", [
            ("Hardship pause", f"at most {_plural(policy.hardship.max_pause_days, 'day')}"),
            ("Late fees", (f"{fees.daily_rate_permille:g}‰ of the overdue amount a day, at most"
                           f" {fees.cap_percent:g}%") if fees.enabled else "off"),
        ]),
        Section("Agents", [
            ("Answer in time", f"a ticket shows red after {_plural(hh.sla_minutes, 'minute')}"),
            ("Claims", f"go back to the queue after {_plural(hh.lease_minutes, 'minute')}"
             " without work"),
            ("Waiting message", "an unclaimed ticket"
             f" {_plural(hh.answer_within_minutes, 'minute')} old tells the debtor when to"
             " expect an answer"),
            ("Late replies", "outside the window, to a debtor who wrote in the last"
             f" {_plural(hh.reply_window_minutes, 'minute')}"),
            ("Business hours", f"{', '.join(DAYS[d] for d in hours.days)}"
             f" {hours.start:%H:%M}–{hours.end:%H:%M} ({hours.timezone})"),
            ("Sign-in", f"locked for {_plural(hh.lock_minutes, 'minute')} after"
             f" {_plural(hh.max_failed_logins, 'failure')} in a row; signed out after"
             f" {_plural(hh.session_idle_minutes, 'minute')} idle"),
        ]),
        Section("Sending", [
            ("Guided conversations",
             f"start over after {_plural(policy.dialogues.idle_minutes, 'idle minute')}"),
            ("Planning", f"every {_plural(policy.schedule.plan_every_minutes, 'minute')}"),
            ("Sending", f"every {_plural(policy.schedule.dispatch_every_seconds, 'second')}, at"
             f" most {policy.dispatch.global_per_second:g} messages a second in all and"
             f" {policy.dispatch.per_chat_per_second:g} a second to one chat"),
            ("Retries", f"{_plural(policy.dispatch.max_attempts, 'attempt')} for network and"
             " server errors"),
        ]),
    ]  # fmt: skip


@require_role("admin")
async def policy_page(request: web.Request) -> web.Response:
    """The policy in force, where it comes from, and each stage's message per language."""
    console = console_of(request)
    policy, path = console.policy, console.settings.policy_file
    async with console.sessions() as s:
        saved = await versions.every_saved(s)
    stages = [
        {
            "stage": stage,
            "range": dpd_range(stage),
            "messages": [
                {
                    "locale": locale,
                    "live": versions.live_of(saved.get((stage.template, locale), []),
                                             stage.template, locale),
                }
                for locale in SUPPORTED_LOCALES
            ],
        }
        for stage in sorted(policy.stages, key=lambda s: s.from_dpd)
    ]  # fmt: skip
    holds = [
        {"label": label, "on": getattr(policy.holds, name), "lawful": name in LAWFUL}
        for name, label in HOLDS.items()
    ]
    context = {
        "nav": "policy",
        "source": str(path) if path else None,
        "default_path": DEFAULT_POLICY.name,
        "stages": stages,
        "holds": holds,
        "sections": sections(policy),
    }
    return aiohttp_jinja2.render_template("policy.html", request, context)

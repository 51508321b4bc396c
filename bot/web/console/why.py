"""The decision trace in plain English for staff: the debtor page and ``nudgebot explain`` say
it the same way. Times are the debtor's own clock, with UTC beside them where it matters."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.money import format_money
from bot.reminders.trace import BETWEEN, FINAL, NOT_YET, AccountRow, Check, Hold, Planned, Trace

HOLDS = {
    "opted_out": "Opted out (STOP)",
    "cease": "Asked for no more contact",
    "deceased": "Reported deceased",
    "bankruptcy": "Bankruptcy",
    "dispute": "Disputes the debt",
    "hardship": "Hardship pause",
    "open_ticket": "Conversation with the agents",
    "ticket_claimed": "An agent holds the conversation",
    "open_promise": "Promise to pay open",
    "plan_active": "Repayment plan running",
    "unlinked": "No chat with the bot",
    "unverified": "Chat not verified",
    "unreachable": "Chat unreachable",
}
# Why a hold stops the bot, finishing "The bot will not write: …".
BECAUSE = {
    "opted_out": "they opted out (STOP)",
    "cease": "they asked for no more contact",
    "deceased": "they were reported deceased",
    "bankruptcy": "they are in bankruptcy",
    "dispute": "they dispute the debt",
    "hardship": "reminders are paused for hardship",
    "open_ticket": "their conversation is with the agents",
    "ticket_claimed": "an agent holds their conversation",
    "open_promise": "they promised to pay and the promise is still open",
    "plan_active": "they keep to a repayment plan",
    "unlinked": "they have no chat with the bot yet",
    "unverified": "their chat is not verified yet",
    "unreachable": "their chat cannot be reached",
}
CHECKS = {
    "stage": "Stage",
    "holds": "Holds",
    "step": "This step",
    "window": "Contact window",
    "weekly_cap": "Weekly cap",
    "min_gap": "Minimum gap",
    "time_of_day": "Time of day",
}
# Why the dispatcher put a message off, finishing "The bot will not write today: …".
DELAYS = {
    "window_closed": "the contact window is closed",
    "min_gap": "the minimum gap since the last message has not passed",
    "time_of_day": "they left reminders unanswered, so the next goes at another time of day",
    "weekly_cap": "the weekly cap is reached, so this step's reminder is skipped",
}
# What today's message waits for, finishing "The bot will write today at 11:00 their time…".
AFTER = {
    "window_closed": ", when the contact window opens",
    "min_gap": ", once the minimum gap since the last message has passed",
    "time_of_day": ", in the {slot} slot: the last reminders went unanswered",
}
NOTHING = {
    "nothing_owed": "Nothing is owed, so there is nothing to remind about.",
    "disputed": "Every account still owed is disputed; disputed accounts get no reminders.",
    "not_yet": "Nothing is due yet",
    "between_stages": "No stage of the policy covers today",
}
NEXT = "Next slot the window, caps and gap allow"
# When something else stops the bot, the next slot is only what the timing rules would allow.
NEXT_ALONE = "The window, caps and gap alone would allow"
TONES = {"writes_today": "ok", "not_today": "warn", "step_done": "muted", "held": "bad"}


def stage_label(name: str | None) -> str:
    """A stage as staff say it."""
    return {NOT_YET: "not yet", BETWEEN: "between stages", FINAL: "final", None: "—"}.get(
        name, name or "—"
    )


class Words:
    """One debtor's trace, said in English."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def when(self, instant: datetime | None) -> str:
        """An instant on the debtor's clock: ``Tue 1 Dec 10:00``."""
        if instant is None:
            return "—"
        local = self.trace.local(instant)
        return f"{local:%a} {local.day} {local:%b %H:%M}"

    def clock(self, instant: datetime | None) -> str:
        """Only the time, on the debtor's clock."""
        return "—" if instant is None else f"{self.trace.local(instant):%H:%M}"

    def utc(self, instant: datetime | None) -> str:
        """The same instant in UTC, the staff's common clock."""
        if instant is None:
            return ""
        utc = instant.astimezone(UTC)
        return f"{utc.day} {utc:%b %H:%M} UTC"

    def tone(self) -> str:
        """How the verdict should look: ok, warn, bad or muted."""
        return TONES.get(self.trace.verdict.code, "muted")

    def verdict(self) -> str:
        """The answer in one or two sentences."""
        v, t = self.trace.verdict, self.trace
        if v.code == "writes_today":
            after = AFTER.get(v.reason or "", "").format(slot=t.slot.slot)
            if v.at == t.at:
                return f"The bot writes to them now ({self.clock(v.at)} their time)."
            return f"The bot will write today at {self.clock(v.at)} their time{after}."
        if v.code == "not_today":
            why = DELAYS.get(v.reason or "", "no slot is free")
            if v.reason == "window_closed" and t.clock.local_now >= t.local(t.clock.closes_at):
                why = "the contact window has closed for today"
            nxt = f" The next slot is {self.when(v.at)} their time." if v.at else ""
            return f"The bot will not write today: {why}.{nxt}"
        if v.code == "held":
            more = len(t.holds) - 1
            also = f" (and {more} more hold{'s' if more > 1 else ''})" if more > 0 else ""
            return f"The bot will not write: {BECAUSE.get(v.reason or '', v.reason)}{also}."
        if v.code == "step_done":
            if v.reason == "sent":
                return (
                    f"This stage step's reminder went out {self.when(v.at)} their time; the next"
                    " comes with the next step of the stage's cadence."
                )
            return f"This stage step's reminder was not sent ({v.reason}); the next step is new."
        if v.code == "final_stage":
            return (
                f"No automated reminders: {t.due.dpd if t.due else '?'} days past due is the final"
                " stage, where the agents' queue takes over."
            )
        said = NOTHING.get(v.reason or "", "Nothing is due.")
        if v.day is not None:
            said += f": the first reminder can go on {v.day.day} {v.day:%b %Y}."
        elif not said.endswith("."):
            said += "."
        return said

    def next_label(self) -> str:
        """What the next slot is, given the verdict."""
        return NEXT if self.trace.verdict.code in ("writes_today", "not_today") else NEXT_ALONE

    def deciding(self) -> str:
        """The check the verdict rests on."""
        v = self.trace.verdict
        if v.code in ("writes_today", "not_today"):
            return v.reason or ""
        return {"held": "holds", "step_done": "step"}.get(v.code, "stage")

    def hold(self, hold: Hold) -> str:
        """Since when a hold applies, and what is recorded with it."""
        parts = []
        if hold.since is not None:
            parts.append(f"since {self.utc(hold.since)}")
        if hold.until is not None:
            parts.append(f"through {hold.until.day} {hold.until:%b %Y}")
        if hold.detail:
            parts.append(hold.detail)
        return " · ".join(parts)

    def check(self, check: Check) -> str:
        """What a check looked at."""
        t = self.trace
        if check.code == "stage":
            if t.due is None:
                return "no account owed at or past the first stage"
            return f"most overdue {t.due.dpd} days past due: {stage_label(t.due.stage)}"
        if check.code == "holds":
            return ", ".join(HOLDS.get(h.code, h.code).lower() for h in t.holds) or "none"
        if check.code == "step":
            step = next((p for p in t.planned if p.this_step), None)
            if check.state == "off":
                return "—"
            if step is None:
                return "not planned yet"
            return self.planned(step)
        if check.code == "window":
            w = t.clock
            hours = f"{self.clock(w.opens_at)}–{self.clock(w.closes_at)}"
            if w.open:
                return f"{hours}, open now"
            return f"{hours}, closed now; opens {self.when(w.next_opening)}"
        if check.code == "weekly_cap":
            return f"{t.caps.used} of {t.caps.limit} in the last 7 days"
        if check.code == "min_gap":
            gap = f"{t.caps.min_gap_hours:g} h after the last"
            if t.caps.gap_ends_at is not None:
                return f"{gap}: not before {self.when(t.caps.gap_ends_at)}"
            if t.caps.last_at is None:
                return f"{gap}: no proactive message yet"
            return f"{gap} ({self.when(t.caps.last_at)}): passed"
        s = t.slot
        if s.slot is None:
            return f"{s.unanswered} of {s.needed} unanswered in a row: any time of the window"
        return f"{s.unanswered} unanswered in a row: {s.slot} slot, from {self.when(s.starts_at)}"

    def planned(self, p: Planned) -> str:
        """An outbox row: what, its state and when."""
        what = f"{p.kind} {p.stage}" if p.stage else p.kind.replace("_", " ")
        if p.sent_at is not None:
            return f"{what}: {p.status} {self.when(p.sent_at)}"
        reason = f" ({p.reason})" if p.reason else ""
        return f"{what}: {p.status}{reason}, not before {self.when(p.not_before)}"

    def account(self, a: AccountRow) -> str:
        """An account's state: open, disputed, paid or closed (and why)."""
        if a.status == "closed" and a.closed_reason:
            return f"closed ({a.closed_reason})"
        if a.status != "open" or a.balance_minor <= 0:
            return a.status if a.status != "open" else "nothing owed"
        return f"disputed since {self.utc(a.disputed_at)}" if a.disputed_at else "open"

    def money(self, a: AccountRow) -> str:
        """An account's balance in its currency."""
        return format_money(a.balance_minor, a.currency, "en")


def lines(trace: Trace) -> list[str]:
    """The trace as plain text, a line each, for the command line."""
    say, t = Words(trace), trace
    d = t.debtor
    out = [
        f"{d.ref} · {d.name} · {d.locale} · {d.timezone}",
        f"At {say.when(t.at)} their time ({say.utc(t.at)})",
        "",
        say.verdict(),
        f"{say.next_label()}: {say.when(t.next_slot)} their time ({say.utc(t.next_slot)})"
        if t.next_slot
        else f"{say.next_label()}: none found",
        "",
        "Checks, in the order the bot makes them:",
    ]
    marks = {"pass": "ok  ", "fail": "NO  ", "off": "--  "}
    out += [f"  {marks[c.state]}{CHECKS[c.code]:<15} {say.check(c)}" for c in t.checks]
    out += ["", "Holds:"]
    out += [f"  {HOLDS.get(h.code, h.code):<32} {say.hold(h)}" for h in t.holds] or ["  none"]
    out += ["", "Accounts:"]
    out += [
        f"  {a.ref:<12} {say.money(a):>14}  due {a.due_date:%Y-%m-%d}  DPD {a.dpd:>4}  "
        f"{stage_label(a.stage):<14} {say.account(a)}"
        for a in t.accounts
    ] or ["  none"]
    out += ["", "Planned messages:"]
    out += [f"  {say.planned(p)}" for p in t.planned] or ["  none"]
    return out

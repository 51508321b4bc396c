"""The decision trace as data: what the bot weighs for one debtor at one instant, and what it
concludes (bot/reminders/explain.py builds it; the console and the command line word it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.policy import Policy

NOT_YET, BETWEEN, FINAL = "not_yet", "between", "final"


@dataclass(frozen=True)
class Hold:
    """A hold that applies: its code (the planner's reason), since when, the last day it holds
    when that is known, and a recorded detail (a ticket's state, why a chat is unreachable)."""

    code: str
    since: datetime | None = None
    until: date | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Person:
    """Who the trace is about."""

    id: int
    ref: str
    name: str
    locale: str
    timezone: str


@dataclass(frozen=True)
class Clock:
    """The debtor's clock at the instant: today's window (UTC instants) and whether it is open."""

    local_now: datetime
    opens_at: datetime
    closes_at: datetime
    open: bool
    next_opening: datetime | None


@dataclass(frozen=True)
class AccountRow:
    """One account as the planner counts it (``counted``: open, owed, not disputed)."""

    ref: str
    product: str | None
    currency: str
    balance_minor: int
    due_date: date
    dpd: int
    stage: str | None  # a stage's name, not_yet, between or final; None when nothing is owed
    status: str
    disputed_at: datetime | None
    closed_reason: str | None
    counted: bool


@dataclass(frozen=True)
class Due:
    """The planner's view: the most overdue account's due date and DPD, its stage, the first
    reason it plans nothing now (None: it plans), the first hold the dispatcher would skip
    for at any hour, and the key of this cadence step's reminder."""

    due_date: date
    dpd: int
    stage: str
    reason: str | None
    hold: str | None
    dedupe_key: str | None


@dataclass(frozen=True)
class Caps:
    """Proactive messages the weekly cap counts, the last one, and the end of the gap after it."""

    used: int
    limit: int
    last_at: datetime | None
    min_gap_hours: float
    gap_ends_at: datetime | None


@dataclass(frozen=True)
class Slot:
    """Reminders unanswered in a row, how many move the next one, and to which slot."""

    unanswered: int
    needed: int
    slot: str | None
    starts_at: datetime | None


@dataclass(frozen=True)
class Planned:
    """A row of the outbox for the debtor that is still to go, or this step's reminder."""

    id: int
    kind: str
    stage: str | None
    status: str
    not_before: datetime
    sent_at: datetime | None
    reason: str | None
    this_step: bool


@dataclass(frozen=True)
class Check:
    """One check in the order the bot makes them: ``pass``, ``fail`` or ``off`` (not asked)."""

    code: str
    state: str


@dataclass(frozen=True)
class Verdict:
    """writes_today, not_today, held, step_done, final_stage or nothing_due, with the reason's
    code and the instant (or day) it names: when it writes, the next slot, or when the step's
    reminder went out."""

    code: str
    reason: str | None = None
    at: datetime | None = None
    day: date | None = None


@dataclass(frozen=True)
class Trace:
    """Everything the bot weighs for one debtor at one instant, and what it concludes."""

    at: datetime
    debtor: Person
    clock: Clock
    accounts: list[AccountRow]
    due: Due | None
    holds: list[Hold]
    caps: Caps
    slot: Slot
    planned: list[Planned]
    checks: list[Check]
    verdict: Verdict
    next_slot: datetime | None

    def local(self, instant: datetime) -> datetime:
        """An instant on the debtor's clock."""
        return instant.astimezone(ZoneInfo(self.debtor.timezone))


def stage_of(policy: Policy, dpd: int) -> str:
    """The policy's stage for a number of days past due, or not_yet, between or final."""
    if dpd >= policy.final.from_dpd:
        return FINAL
    for stage in policy.stages:
        if stage.from_dpd <= dpd <= stage.to_dpd:
            return stage.name
    return NOT_YET if dpd < policy.earliest_dpd else BETWEEN

"""The decision trace: why the bot will or will not write to one debtor, at one instant, as
the planner and the dispatcher see it.

Nothing here decides on its own. The stage, days past due and first reason are the planner's
``candidates`` query; every hold is a condition of the planner's ``debtor_blocks``, each asked
on its own so all of them show; the window, caps, gap and time of day are the dispatcher's
``check_timing``, asked again at each instant it defers to until it lets a message out (the
next slot). The database is read as it is and only the clock is the chosen instant, as
``nudgebot remind --at`` runs. The trace is data (codes and values); the console and the
command line put it into words.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Account, Debtor, OutboxStatus, ReminderOutbox
from bot.policy import Policy
from bot.policy.window import SLOTS, ZoneClock, day_number, next_slot_start, zone_clock
from bot.reminders.explain_facts import hold_facts, last_sent
from bot.reminders.holds import debtor_blocks
from bot.reminders.planner import candidates, stage_reminders
from bot.reminders.timing import (
    MIN_GAP,
    TIME_OF_DAY,
    WEEKLY_CAP,
    WINDOW_CLOSED,
    Timing,
    check_timing,
    next_opening,
    non_responder_slot,
    recent_sends,
    unanswered_reminders,
)
from bot.reminders.trace import (
    BETWEEN,
    FINAL,
    NOT_YET,
    AccountRow,
    Caps,
    Check,
    Clock,
    Due,
    Hold,
    Person,
    Planned,
    Slot,
    Trace,
    Verdict,
    stage_of,
)

# The dispatcher's reasons for putting a message off, as codes of the trace.
TIMING_CODES = {
    WINDOW_CLOSED: "window_closed",
    MIN_GAP: "min_gap",
    TIME_OF_DAY: "time_of_day",
    WEEKLY_CAP: "weekly_cap",
}
# Deferrals follow each other (window, gap, time of day, cap); a few always settle it.
MAX_STEPS = 16
IN_OUTBOX = (OutboxStatus.PENDING, OutboxStatus.CLAIMED, OutboxStatus.SENDING)
CHAT_HOLDS = ("unlinked", "unverified", "unreachable")


async def find_debtor(session: AsyncSession, ref: str) -> Debtor | None:
    """The debtor with this exact reference."""
    return await session.scalar(select(Debtor).where(Debtor.debtor_ref == ref))


async def explain(session: AsyncSession, policy: Policy, debtor_id: int, now: datetime) -> Trace:
    """The decision trace of one debtor at ``now``."""
    debtor = await session.get(Debtor, debtor_id)
    if debtor is None:
        raise LookupError(f"no debtor {debtor_id}")
    clock = zone_clock(debtor.timezone, now, policy.window)
    accounts = await _accounts(session, policy, debtor_id, clock.day)
    due = await _due(session, policy, debtor_id, clock)
    planned = await _planned(session, debtor_id, due.dedupe_key if due else None)
    step = next((p for p in planned if p.this_step), None)
    row_id = step.id if step else None
    caps = await _caps(session, policy, debtor_id, now, row_id)
    slot = await _slot(session, policy, debtor, now)
    holds = await _holds(session, policy, debtor, clock.day)
    # The dispatcher looks at a planned row no earlier than its not_before.
    start = max(now, step.not_before) if step and step.status == OutboxStatus.PENDING else now
    deferrals, next_slot = await _walk(session, policy, debtor, start, row_id)
    verdict = _verdict(policy, debtor, accounts, due, step, deferrals, next_slot, clock.local_date)
    return Trace(
        at=now,
        debtor=Person(debtor.id, debtor.debtor_ref, debtor.full_name, debtor.locale, clock.zone),
        clock=_clock(policy, clock),
        accounts=accounts,
        due=due,
        holds=holds,
        caps=caps,
        slot=slot,
        planned=planned,
        checks=_checks(due, holds, step, clock.in_window, caps, slot, now),
        verdict=verdict,
        next_slot=next_slot,
    )


def _clock(policy: Policy, clock: ZoneClock) -> Clock:
    now, zone = clock.now, clock.zone
    return Clock(
        local_now=now.astimezone(ZoneInfo(zone)),
        opens_at=clock.opens_at,
        closes_at=clock.closes_at,
        open=clock.in_window,
        next_opening=None if clock.in_window else next_opening(zone, now, policy),
    )


async def _caps(
    s: AsyncSession, policy: Policy, debtor_id: int, now: datetime, row_id: int | None
) -> Caps:
    sent = await recent_sends(s, debtor_id, now, exclude=row_id)
    gap_ends = sent[0] + timedelta(hours=policy.caps.min_gap_hours) if sent else None
    return Caps(
        used=len(sent),
        limit=policy.caps.max_per_7_days,
        last_at=sent[0] if sent else await last_sent(s, debtor_id),
        min_gap_hours=policy.caps.min_gap_hours,
        gap_ends_at=gap_ends if gap_ends and gap_ends > now else None,
    )


async def _slot(s: AsyncSession, policy: Policy, debtor: Debtor, now: datetime) -> Slot:
    unanswered = await unanswered_reminders(s, policy, debtor.id)
    index = non_responder_slot(policy, debtor.timezone, unanswered)
    return Slot(
        unanswered=len(unanswered),
        needed=policy.non_responders.unanswered,
        slot=None if index is None else SLOTS[index],
        starts_at=(
            None if index is None else next_slot_start(debtor.timezone, now, policy.window, index)
        ),
    )


async def _accounts(
    s: AsyncSession, policy: Policy, debtor_id: int, today: int
) -> list[AccountRow]:
    rows = await s.scalars(
        select(Account).where(Account.debtor_id == debtor_id).order_by(Account.due_date)
    )
    found = []
    for a in rows:
        dpd = today - day_number(a.due_date)
        disputed = a.dispute_at is not None and policy.holds.dispute
        found.append(
            AccountRow(
                ref=a.account_ref, product=a.product, currency=a.currency,
                balance_minor=a.amount_due_minor, due_date=a.due_date, dpd=dpd,
                stage=stage_of(policy, dpd) if a.owed else None, status=a.status,
                disputed_at=a.dispute_at, closed_reason=a.closed_reason,
                counted=a.owed and not disputed,
            )
        )  # fmt: skip
    return found


async def _due(s: AsyncSession, policy: Policy, debtor_id: int, clock: ZoneClock) -> Due | None:
    """The planner's row for the debtor; as the dispatcher asks it (at any hour), its first
    hold and the key it would send under."""
    planner = (await s.execute(candidates(policy, [clock], debtor_id=debtor_id))).first()
    if planner is None:
        return None
    sending = candidates(policy, [clock], any_hour=True, debtor_id=debtor_id)
    hold = (await s.execute(sending)).one().reason
    key = await s.scalar(stage_reminders(policy, sending.subquery("candidate")))
    return Due(
        due_date=planner.due_date, dpd=planner.dpd, stage=stage_of(policy, planner.dpd),
        reason=planner.reason, hold=hold, dedupe_key=key,
    )  # fmt: skip


async def _planned(s: AsyncSession, debtor_id: int, key: str | None) -> list[Planned]:
    this_step = ReminderOutbox.dedupe_key == key if key else literal(False)
    rows = await s.scalars(
        select(ReminderOutbox)
        .where(
            ReminderOutbox.debtor_id == debtor_id,
            or_(ReminderOutbox.status.in_(IN_OUTBOX), this_step),
        )
        .order_by(ReminderOutbox.not_before, ReminderOutbox.id)
    )
    return [
        Planned(
            id=r.id,
            kind=r.kind,
            stage=r.stage,
            status=r.status,
            not_before=r.not_before,
            sent_at=r.sent_at,
            reason=r.reason,
            this_step=r.dedupe_key == key,
        )
        for r in rows
    ]


async def _holds(s: AsyncSession, policy: Policy, debtor: Debtor, today: int) -> list[Hold]:
    """Every hold that applies today, in the planner's order, each with since when."""
    blocks = debtor_blocks(policy, literal(today))
    flags = (
        await s.execute(
            select(*(case((cond, 1), else_=0).label(name) for name, cond in blocks)).where(
                Debtor.id == debtor.id
            )
        )
    ).one()
    applying = [name for name, _ in blocks if flags._mapping[name]]
    # Of the chat's holds the first says it all: a debtor with no chat has no verified one.
    chat = [code for code in applying if code in CHAT_HOLDS]
    applying = [code for code in applying if code not in chat[1:]]
    return [await hold_facts(s, policy, debtor, code) for code in applying]


async def _walk(
    s: AsyncSession, policy: Policy, debtor: Debtor, start: datetime, row_id: int | None
) -> tuple[list[Timing], datetime | None]:
    """The dispatcher's timing checks from ``start``, following each deferral (and the weekly
    cap to when it frees): what put a message off, in order, and when one could go."""
    steps: list[Timing] = []
    at = start
    for _ in range(MAX_STEPS):
        timing = await check_timing(s, policy, debtor.id, debtor.timezone, at, exclude=row_id)
        if timing is None:
            return steps, at
        steps.append(timing)
        at = timing.until
    return steps, None


def _verdict(
    policy: Policy,
    debtor: Debtor,
    accounts: list[AccountRow],
    due: Due | None,
    step: Planned | None,
    deferrals: list[Timing],
    next_slot: datetime | None,
    today: date,
) -> Verdict:
    if due is None:
        owed = [a for a in accounts if a.stage is not None]
        counted = [a for a in owed if a.counted]
        if not owed:
            return Verdict("nothing_due", "nothing_owed")
        if not counted:
            return Verdict("nothing_due", "disputed")
        first = min(a.due_date for a in counted) + timedelta(days=policy.earliest_dpd)
        return Verdict("nothing_due", NOT_YET, day=first)
    if due.stage == FINAL:
        return Verdict("final_stage", due.reason)
    if due.stage == BETWEEN:
        later = [st.from_dpd for st in policy.stages if st.from_dpd > due.dpd]
        starts = today + timedelta(days=min(later) - due.dpd) if later else None
        return Verdict("nothing_due", "between_stages", day=starts)
    if due.hold is not None:
        return Verdict("held", due.hold)
    if step is not None and step.status not in IN_OUTBOX:
        return Verdict("step_done", step.reason or step.status, at=step.sent_at)
    # A skip (the weekly cap) ends this reminder; a deferral only moves it.
    skipped = next((d for d in deferrals if d.status == "skipped"), None)
    if skipped is not None:
        return Verdict("not_today", TIMING_CODES[skipped.reason], next_slot)
    # The window is the plainest reason; any other that put the message off says more.
    said = [d.reason for d in deferrals if d.reason != WINDOW_CLOSED] or [
        d.reason for d in deferrals
    ]
    reason = TIMING_CODES[said[0]] if said else None
    if next_slot is None:
        return Verdict("not_today", reason)
    if next_slot.astimezone(ZoneInfo(debtor.timezone)).date() == today:
        return Verdict("writes_today", reason, next_slot)
    return Verdict("not_today", reason, next_slot)


def _checks(
    due: Due | None,
    holds: list[Hold],
    step: Planned | None,
    window_open: bool,
    caps: Caps,
    slot: Slot,
    now: datetime,
) -> list[Check]:
    """The planner's checks, then the dispatcher's at this instant, as pass or fail."""
    in_stage = due is not None and due.stage not in (FINAL, BETWEEN)
    done = step is not None and step.status not in IN_OUTBOX

    def state(ok: bool) -> str:
        return "pass" if ok else "fail"

    return [
        Check("stage", state(in_stage)),
        Check("holds", state(not holds)),
        Check("step", state(not done) if in_stage else "off"),
        Check("window", state(window_open)),
        Check("weekly_cap", state(caps.used < caps.limit)),
        Check("min_gap", state(caps.gap_ends_at is None)),
        Check("time_of_day", state(slot.starts_at is None or slot.starts_at <= now)),
    ]

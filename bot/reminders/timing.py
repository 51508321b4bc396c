"""When a proactive message may go out: the contact window, the caps and the non-responder's
time of day. The dispatcher asks this at the last moment before sending; the decision trace
(bot/reminders/explain.py) asks the very same functions, so the two never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import UTCDateTime
from bot.db.models import ContactLog, Direction, OutboxStatus, ReminderOutbox
from bot.policy import Policy
from bot.policy.window import SLOTS, next_slot_start, slot_of, zone_clock

# Reasons a row is put off or skipped, as the outbox records them.
WINDOW_CLOSED = "outside the contact window"
MIN_GAP = "minimum gap"
TIME_OF_DAY = "another time of day"
WEEKLY_CAP = "weekly_cap"
CAP_DAYS = 7


@dataclass(frozen=True)
class Timing:
    """Not now: ``deferred`` until ``until``, or ``skipped`` (the weekly cap, which frees at
    ``until``: a later reminder may go out then, this one never does)."""

    status: str
    reason: str
    until: datetime


def next_opening(zone: str, now: datetime, policy: Policy) -> datetime:
    """When the contact window next opens after ``now`` (today's, if not yet open)."""
    window = policy.window
    clock = zone_clock(zone, now, window)
    if now < clock.opens_at:
        return clock.opens_at
    return zone_clock(zone, clock.closes_at + timedelta(hours=12), window).opens_at


async def recent_sends(
    s: AsyncSession,
    debtor_id: int,
    now: datetime,
    *,
    worker: str | None = None,
    exclude: int | None = None,
) -> list[datetime]:
    """Proactive messages the caps count at ``now``, newest first: those sent in the last
    week, and any in a sender's hands right now (as if sent now) but ``worker``'s own, which
    handles one debtor's rows one after another. ``exclude`` is the row being decided."""
    in_hand = ReminderOutbox.status.in_([OutboxStatus.CLAIMED, OutboxStatus.SENDING])
    at = case((in_hand, literal(now, UTCDateTime())), else_=ReminderOutbox.sent_at)
    others = in_hand if worker is None else and_(in_hand, ReminderOutbox.claimed_by != worker)
    recent = or_(
        and_(
            ReminderOutbox.status == OutboxStatus.SENT,
            ReminderOutbox.sent_at > now - timedelta(days=CAP_DAYS),
        ),
        others,
    )
    query = select(at).where(ReminderOutbox.debtor_id == debtor_id, recent)
    if exclude is not None:
        query = query.where(ReminderOutbox.id != exclude)
    return list((await s.execute(query.order_by(at.desc()))).scalars().all())


async def unanswered_reminders(s: AsyncSession, policy: Policy, debtor_id: int) -> list[datetime]:
    """When the reminders sent since the debtor last wrote went out, newest first (at most
    as many as make a non-responder)."""
    last_reply = (
        await s.execute(
            select(func.max(ContactLog.created_at)).where(
                ContactLog.debtor_id == debtor_id, ContactLog.direction == Direction.IN
            )
        )
    ).scalar_one()
    unanswered = select(ReminderOutbox.sent_at).where(
        ReminderOutbox.debtor_id == debtor_id, ReminderOutbox.status == OutboxStatus.SENT
    )
    if last_reply is not None:
        unanswered = unanswered.where(ReminderOutbox.sent_at > last_reply)
    newest = unanswered.order_by(ReminderOutbox.sent_at.desc())
    limit = policy.non_responders.unanswered
    return list((await s.execute(newest.limit(limit))).scalars().all())


def non_responder_slot(policy: Policy, zone: str, unanswered: list[datetime]) -> int | None:
    """After N unanswered reminders, the slot after the last one's, else None."""
    if len(unanswered) < policy.non_responders.unanswered:
        return None
    last = slot_of(zone, unanswered[0], policy.window)
    return None if last is None else (last + 1) % len(SLOTS)


async def check_timing(
    s: AsyncSession,
    policy: Policy,
    debtor_id: int,
    zone: str,
    now: datetime,
    *,
    worker: str | None = None,
    exclude: int | None = None,
) -> Timing | None:
    """The window, the caps and the non-responder slot: defer or skip, or None to send now."""
    if not zone_clock(zone, now, policy.window).in_window:
        return Timing("deferred", WINDOW_CLOSED, next_opening(zone, now, policy))
    caps = policy.caps
    sent = await recent_sends(s, debtor_id, now, worker=worker, exclude=exclude)
    if len(sent) >= caps.max_per_7_days:
        # The cap frees once the oldest message it still needs drops out of the week.
        frees = sent[caps.max_per_7_days - 1] + timedelta(days=CAP_DAYS)
        return Timing("skipped", WEEKLY_CAP, frees)
    gap = timedelta(hours=caps.min_gap_hours)
    if sent and sent[0] + gap > now:
        return Timing("deferred", MIN_GAP, sent[0] + gap)
    slot = non_responder_slot(policy, zone, await unanswered_reminders(s, policy, debtor_id))
    if slot is not None:
        start = next_slot_start(zone, now, policy.window, slot)
        if start > now:
            return Timing("deferred", TIME_OF_DAY, start)
    return None

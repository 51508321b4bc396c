"""Whether a person may write to a debtor now, checked at send time like every reminder.

Nothing goes to a debtor who opted out, asked us to cease communication or has died, nor to a
chat that blocked the bot. Outside the debtor's contact window a reply goes only to someone who
wrote within the policy's reply window (they are in the conversation, not woken by it). Each
refusal is a plain sentence for the agent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ChannelLink, ContactLog, Debtor, Direction
from bot.policy import Policy
from bot.policy.window import zone_clock


async def chat_of(
    s: AsyncSession, debtor_id: int, channels: set[str] | frozenset[str]
) -> ChannelLink | None:
    """The debtor's verified chat on one of ``channels``, the one they last wrote from first."""
    last_in = (
        select(func.max(ContactLog.created_at))
        .where(
            ContactLog.debtor_id == debtor_id,
            ContactLog.direction == Direction.IN,
            ContactLog.channel == ChannelLink.channel,
            ContactLog.chat_id == ChannelLink.chat_id,
        )
        .scalar_subquery()
    )
    return await s.scalar(
        select(ChannelLink)
        .where(
            ChannelLink.debtor_id == debtor_id,
            ChannelLink.channel.in_(channels),
            ChannelLink.verified_at.is_not(None),
        )
        .order_by(last_in.desc().nulls_last(), ChannelLink.verified_at.desc())
        .limit(1)
    )


async def refusal(
    s: AsyncSession,
    debtor: Debtor,
    link: ChannelLink | None,
    now: datetime,
    policy: Policy | None,
) -> str | None:
    """Why nothing may be sent to the debtor through ``link`` now; None when it may.
    Without a policy the contact window is not looked at."""
    why = barred(debtor, link)
    if why is None and policy is not None:
        why = await too_late(s, debtor, now, policy)
    return why


def barred(debtor: Debtor, link: ChannelLink | None) -> str | None:
    """Why nothing may be sent to the debtor through ``link`` at any hour; None if it may."""
    if debtor.deceased_at is not None:
        return "The debtor's death has been recorded: nothing more is sent to this chat."
    if debtor.cease_at is not None:
        return "The debtor asked us to cease communication: nothing may be sent to them."
    if debtor.opted_out_at is not None:
        return "The debtor opted out of messages (STOP): nothing may be sent to them."
    if link is None:
        return "The debtor has no verified chat to send to."
    if link.unreachable_at is not None:
        why = link.unreachable_reason or "the channel refused our messages"
        return (
            f"The chat is unreachable ({why}): nothing can be sent until the debtor writes again."
        )
    return None


async def too_late(s: AsyncSession, debtor: Debtor, now: datetime, policy: Policy) -> str | None:
    """Why it is the wrong hour to write: outside the debtor's contact window, and they have not
    written within the reply window; None when it is not."""
    clock = zone_clock(debtor.timezone, now, policy.window)
    if clock.in_window:
        return None
    minutes = policy.handoff.reply_window_minutes
    wrote = await s.scalar(
        select(func.max(ContactLog.created_at)).where(
            ContactLog.debtor_id == debtor.id, ContactLog.direction == Direction.IN
        )
    )
    if wrote is not None and now - wrote <= timedelta(minutes=minutes):
        return None
    local = now.astimezone(ZoneInfo(debtor.timezone))
    window = f"{policy.window.start:%H:%M}–{policy.window.end:%H:%M}"
    return (
        f"It is {local:%H:%M} for the debtor, outside the contact window ({window} their time),"
        f" and they have not written in the last {minutes} minutes: the reply must wait until"
        f" {policy.window.start:%H:%M} their time."
    )

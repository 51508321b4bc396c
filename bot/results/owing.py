"""Each debtor's spells in the book (``debtor_owing``), run together from their accounts'
stretches, with the first link sent, linked and verified instants the funnel counts.

A spell is every day on which at least one of the debtor's accounts was in a bucket other
than ``paid`` or ``closed``; two stretches that touch (one ends the day the other begins) or
overlap are one spell. A debtor's spells are rebuilt whole from ``account_bucket`` whenever a
recording or a late payment touches one of their accounts, and whenever they were sent a link,
linked a chat or verified since the last rebuild.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, delete, func, literal, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AccountBucket, ChannelLink, DebtorOwing, LinkToken
from bot.db.models_results import CLOSED_BUCKET, PAID_BUCKET

# A spell's open end (a stretch with no end yet), as a day later than any real one.
_OPEN = date(9999, 12, 31)
# Link facts stamped a little before the last rebuild (another process's clock) still count.
_CLOCK_SLACK = timedelta(hours=1)


def _spells(debtors: Select[Any] | None) -> Select[Any]:
    """(debtor_id, from_day, until_day, prev_until) of each spell of ``debtors`` (all: None)."""
    b = AccountBucket
    owing = select(b.debtor_id, b.from_day, b.until_day).where(
        b.bucket.not_in([PAID_BUCKET, CLOSED_BUCKET])
    )
    if debtors is not None:
        owing = owing.where(b.debtor_id.in_(debtors))
    owing_ = owing.subquery("owing")
    earlier = {
        "partition_by": owing_.c.debtor_id,
        "order_by": (owing_.c.from_day, owing_.c.until_day),
    }
    # How far the debtor's earlier stretches reach (NULL: none; _OPEN: one has no end).
    reach = case(
        (
            func.count().over(**earlier, rows=(None, -1))
            > func.count(owing_.c.until_day).over(**earlier, rows=(None, -1)),
            literal(_OPEN),
        ),
        else_=func.max(owing_.c.until_day).over(**earlier, rows=(None, -1)),
    )
    reached = select(owing_, reach.label("reach")).subquery("reached")
    # A stretch that begins after everything before it ended begins a spell; numbering
    # spells by a running count of such beginnings puts each stretch in its own.
    begins = case(
        (reached.c.reach.is_not(None) & (reached.c.from_day <= reached.c.reach), 0), else_=1
    )
    numbered = select(
        reached.c.debtor_id,
        reached.c.from_day,
        reached.c.until_day,
        func.sum(begins)
        .over(
            partition_by=reached.c.debtor_id,
            order_by=(reached.c.from_day, reached.c.until_day),
            rows=(None, 0),
        )
        .label("spell"),
    ).subquery("numbered")
    spells = (
        select(
            numbered.c.debtor_id,
            func.min(numbered.c.from_day).label("from_day"),
            case(
                (func.count() > func.count(numbered.c.until_day), null()),
                else_=func.max(numbered.c.until_day),
            ).label("until_day"),
        )
        .group_by(numbered.c.debtor_id, numbered.c.spell)
        .subquery("spell")
    )
    return select(
        spells.c.debtor_id,
        spells.c.from_day,
        spells.c.until_day,
        func.lag(spells.c.until_day)
        .over(partition_by=spells.c.debtor_id, order_by=spells.c.from_day)
        .label("prev_until"),
    )


async def rebuild_owing(
    session: AsyncSession, now: datetime, debtors: Select[Any] | None = None
) -> None:
    """Rebuild the spells of ``debtors`` (a query of debtor ids; None: every debtor)."""
    mine = DebtorOwing.debtor_id.in_(debtors) if debtors is not None else literal(True)
    await session.execute(delete(DebtorOwing).where(mine))
    spells = _spells(debtors).subquery("spells")
    tokens = select(LinkToken.debtor_id, func.min(LinkToken.created_at).label("sent"))
    chats = select(
        ChannelLink.debtor_id,
        func.min(ChannelLink.linked_at).label("linked"),
        func.min(ChannelLink.verified_at).label("verified"),
    )
    if debtors is not None:
        tokens = tokens.where(LinkToken.debtor_id.in_(debtors))
        chats = chats.where(ChannelLink.debtor_id.in_(debtors))
    token = tokens.group_by(LinkToken.debtor_id).subquery("token")
    chat = chats.group_by(ChannelLink.debtor_id).subquery("chat")
    rows = (
        select(
            spells.c.debtor_id,
            spells.c.from_day,
            spells.c.until_day,
            spells.c.prev_until,
            token.c.sent,
            chat.c.linked,
            chat.c.verified,
            literal(now, DebtorOwing.refreshed_at.type),
        )
        .select_from(spells)
        .outerjoin(token, token.c.debtor_id == spells.c.debtor_id)
        .outerjoin(chat, chat.c.debtor_id == spells.c.debtor_id)
    )
    await session.execute(
        DebtorOwing.__table__.insert().from_select(
            [
                "debtor_id",
                "from_day",
                "until_day",
                "prev_until",
                "link_sent_at",
                "linked_at",
                "verified_at",
                "refreshed_at",
            ],
            rows,
        )
    )


async def linked_since_last_rebuild(session: AsyncSession) -> list[Select[Any]] | None:
    """Queries of the debtors sent a link, linked or verified since spells were last rebuilt
    (None: there are no spells yet, so every debtor needs them)."""
    last = await session.scalar(select(func.max(DebtorOwing.refreshed_at)))
    if last is None:
        return None
    since = last - _CLOCK_SLACK
    return [
        select(LinkToken.debtor_id).where(LinkToken.created_at >= since),
        select(ChannelLink.debtor_id).where(
            or_(ChannelLink.linked_at >= since, ChannelLink.verified_at >= since)
        ),
    ]

"""The reasons a debtor gets no reminder, as SQL conditions over ``debtor``, in the order they
are reported; the planner and the dispatcher's last-moment check share them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, not_, select
from sqlalchemy.sql.expression import ColumnElement

from bot.db.models import (
    ChannelLink,
    Debtor,
    HandoffTicket,
    PlanStatus,
    Promise,
    PromiseStatus,
    RepaymentPlan,
    TicketStatus,
)
from bot.reminders.policy import Holds
from bot.reminders.sqlparts import days_since_epoch

CHANNEL = "telegram"


def debtor_blocks(
    holds: Holds, today: ColumnElement[int]
) -> list[tuple[str, ColumnElement[bool]]]:
    """(reason, condition on ``debtor``) for every hold the policy enables, then the channel."""
    found: list[tuple[str, Any]] = []
    if holds.opted_out:
        found.append(("opted_out", Debtor.opted_out_at.is_not(None)))
    if holds.cease:
        found.append(("cease", Debtor.cease_at.is_not(None)))
    if holds.deceased:
        found.append(("deceased", Debtor.deceased_at.is_not(None)))
    if holds.bankruptcy:
        found.append(("bankruptcy", Debtor.bankruptcy_at.is_not(None)))
    if holds.dispute:
        found.append(("dispute", Debtor.dispute_at.is_not(None)))
    if holds.hardship:
        found.append(
            (
                "hardship",
                and_(
                    Debtor.hardship_until.is_not(None),
                    days_since_epoch(Debtor.hardship_until) >= today,
                ),
            )
        )
    # Uncorrelated IN (…) lets PostgreSQL hash each set once, also inside the CASE of reasons.
    if holds.open_ticket:
        found.append(
            (
                "open_ticket",
                Debtor.id.in_(
                    select(HandoffTicket.debtor_id).where(
                        HandoffTicket.status != TicketStatus.RESOLVED
                    )
                ),
            )
        )
    if holds.open_promise:
        found.append(
            (
                "open_promise",
                exists().where(
                    Promise.debtor_id == Debtor.id,
                    Promise.status == PromiseStatus.OPEN,
                    days_since_epoch(Promise.promised_date) >= today,
                ),
            )
        )
    if holds.plan_in_good_standing:
        found.append(
            (
                "plan_active",
                Debtor.id.in_(
                    select(RepaymentPlan.debtor_id).where(
                        RepaymentPlan.status == PlanStatus.ACTIVE
                    )
                ),
            )
        )
    link = ChannelLink.debtor_id == Debtor.id, ChannelLink.channel == CHANNEL
    found += [
        ("unlinked", not_(exists().where(*link))),
        ("unverified", not_(exists().where(*link, ChannelLink.verified_at.is_not(None)))),
        (
            "unreachable",
            not_(
                exists().where(
                    *link,
                    ChannelLink.verified_at.is_not(None),
                    ChannelLink.unreachable_at.is_(None),
                )
            ),
        ),
    ]
    return found

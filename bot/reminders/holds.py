"""The reasons a debtor gets no reminder, as SQL conditions over ``debtor``, in the order they
are reported; the planner and the dispatcher's last-moment check share them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, case, exists, literal, not_, select
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
from bot.policy import Policy
from bot.reminders.sqlparts import days_since_epoch


def debtor_blocks(
    policy: Policy, today: ColumnElement[int]
) -> list[tuple[str, ColumnElement[bool]]]:
    """(reason, condition on ``debtor``) for every hold the policy enables, then the channel."""
    holds = policy.holds
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
    else:
        # Whatever the policy says of open tickets: while a person owns the chat, no reminder
        # talks over them.
        found.append(
            (
                "ticket_claimed",
                Debtor.id.in_(
                    select(HandoffTicket.debtor_id).where(
                        HandoffTicket.status == TicketStatus.CLAIMED
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
                    # Until its grace period ends a promise is not yet broken.
                    days_since_epoch(Promise.promised_date) + policy.promises.grace_days >= today,
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
    # A chat on any channel will do; the dispatcher sends through the one it reaches.
    link = (ChannelLink.debtor_id == Debtor.id,)
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


def debtor_reason(
    policy: Policy, today: int, debtor_id: int, *, ignore: tuple[str, ...] = ()
) -> Select[Any]:
    """The first reason this one debtor may not get a proactive message (no row: they may)."""
    blocks = [
        (name, cond) for name, cond in debtor_blocks(policy, literal(today)) if name not in ignore
    ]
    reason = case(*((cond, literal(name)) for name, cond in blocks), else_=None)
    return select(reason).where(Debtor.id == debtor_id)

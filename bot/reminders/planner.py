"""The planner: for one instant, decide in set-based SQL who gets which reminder, and write
outbox rows whose dedupe key makes planning twice, or in two processes, plan nothing twice.

One pass reads accounts once: it collects, per debtor, the most overdue account and the reason
the debtor may not be reminded (NULL when they may) into a temporary table, then plans stage
reminders, opens final-stage tickets and counts the skipped from that table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import FromClause, Subquery

from bot.db.base import UTCDateTime
from bot.db.engine import dialect_insert
from bot.db.models import (
    Account,
    AccountStatus,
    Debtor,
    HandoffTicket,
    OutboxStatus,
    ReminderOutbox,
    TicketStatus,
)
from bot.handoff.events import publish
from bot.policy import Policy
from bot.policy.window import ZoneClock, zone_clock
from bot.reminders.holds import debtor_blocks
from bot.reminders.sqlparts import as_text, days_since_epoch, rows_table

# Reasons that stop automated messages but not the hand-over to people at the final stage.
ESCALATE_DESPITE = ("window_closed", "unlinked", "unverified", "unreachable", "opted_out")
# SQLite allows at most 500 terms in a compound SELECT; the zone table is one term per zone.
ZONES_PER_STATEMENT = 400

_scratch = MetaData()
plan_candidate = Table(
    "plan_candidate",
    _scratch,
    Column("debtor_id", BigInteger, primary_key=True),
    Column("due_date", Date, nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("send_from", UTCDateTime(), nullable=False),
    Column("reason", String(32)),
    prefixes=["TEMPORARY"],
)


@dataclass
class PlanReport:
    """What one planning pass did."""

    planned: int = 0
    tickets_opened: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def _zone_table(clocks: list[ZoneClock], *, any_hour: bool = False) -> Subquery:
    """The zone clocks as a table; ``any_hour`` treats every zone as inside its window."""
    return rows_table(
        "zone_clock",
        {"tz": str, "zday": int, "send_from": datetime, "plannable": int},
        [(c.zone, c.day, c.send_from, int(any_hour or c.plannable)) for c in clocks],
    )


def _stage_table(policy: Policy) -> Subquery:
    return rows_table(
        "stage",
        {"name": str, "template": str, "from_dpd": int, "to_dpd": int, "cadence": int},
        [(s.name, s.template, s.from_dpd, s.to_dpd, s.cadence_days) for s in policy.stages],
    )


def candidates(
    policy: Policy,
    clocks: list[ZoneClock],
    *,
    any_hour: bool = False,
    debtor_id: int | None = None,
) -> Select[Any]:
    """Per debtor with an open, owed account at or past the first stage: the most overdue
    account's due date and days past due, the earliest send time, and why not (NULL: may)."""
    zone = _zone_table(clocks, any_hour=any_hour)
    dpd = zone.c.zday - days_since_epoch(Account.due_date)
    blocks = [("window_closed", zone.c.plannable == 0), *debtor_blocks(policy, zone.c.zday)]
    reason = case(*((condition, literal(name)) for name, condition in blocks), else_=None)
    query = (
        select(
            Debtor.id.label("debtor_id"),
            func.min(Account.due_date).label("due_date"),
            func.max(dpd).label("dpd"),
            zone.c.send_from,
            reason.label("reason"),
        )
        .select_from(Account)
        .join(Debtor, Debtor.id == Account.debtor_id)
        .join(zone, zone.c.tz == Debtor.timezone)
        .where(
            Account.status == AccountStatus.OPEN,
            Account.amount_due_minor > 0,
            dpd >= policy.earliest_dpd,
        )
        .group_by(Debtor.id, zone.c.zday, zone.c.send_from, zone.c.plannable)
    )
    if policy.holds.dispute:
        query = query.where(Account.dispute_at.is_(None))
    if debtor_id is not None:
        query = query.where(Account.debtor_id == debtor_id)
    return query


def stage_reminders(policy: Policy, source: FromClause) -> Select[Any]:
    """Dedupe key, stage and template for each may-be-reminded debtor in a stage of ``source``."""
    stage = _stage_table(policy)
    c = source.c
    step = (c.dpd - stage.c.from_dpd) // stage.c.cadence
    key = (
        literal("stage:") + as_text(c.debtor_id) + literal(":")
        + as_text(days_since_epoch(c.due_date)) + literal(":") + stage.c.name + literal(":")
        + as_text(step)
    )  # fmt: skip
    return (
        select(
            key.label("dedupe_key"),
            c.debtor_id,
            stage.c.name.label("stage"),
            stage.c.template.label("template_key"),
            c.send_from.label("not_before"),
        )
        .select_from(source)
        .join(stage, and_(c.dpd >= stage.c.from_dpd, c.dpd <= stage.c.to_dpd))
        .where(c.reason.is_(None))
    )


async def clocks_for_all_zones(
    session: AsyncSession, policy: Policy, now: datetime
) -> list[ZoneClock]:
    """The clock of every time zone that has a debtor."""
    zones = (await session.execute(select(Debtor.timezone).distinct())).scalars().all()
    return [zone_clock(z, now, policy.window) for z in sorted(zones)]


async def plan(session: AsyncSession, policy: Policy, now: datetime) -> PlanReport:
    """Plan every reminder due at ``now``, open tickets for the final stage, count the rest."""
    connection = await session.connection()
    await connection.execute(text("DROP TABLE IF EXISTS plan_candidate"))
    await connection.run_sync(plan_candidate.create)
    try:
        clocks = await clocks_for_all_zones(session, policy, now)
        columns = ["debtor_id", "due_date", "dpd", "send_from", "reason"]
        for start in range(0, len(clocks), ZONES_PER_STATEMENT):
            chunk = clocks[start : start + ZONES_PER_STATEMENT]
            await session.execute(
                plan_candidate.insert().from_select(columns, candidates(policy, chunk))
            )
        if connection.dialect.name == "postgresql":
            # Temporary tables get no statistics by themselves; without them the joins below
            # are planned for a handful of rows.
            await connection.execute(text("ANALYZE plan_candidate"))
        return PlanReport(
            planned=await _plan_reminders(session, policy, now),
            tickets_opened=await _open_final_tickets(session, policy, now),
            skipped=await _skipped(session, policy),
        )
    finally:
        await connection.execute(text("DROP TABLE IF EXISTS plan_candidate"))


async def _plan_reminders(session: AsyncSession, policy: Policy, now: datetime) -> int:
    rows = stage_reminders(policy, plan_candidate).subquery("warranted")
    source = select(
        rows.c.dedupe_key,
        rows.c.debtor_id,
        literal("stage").label("kind"),
        rows.c.stage,
        rows.c.template_key,
        literal(now, ReminderOutbox.planned_at.type).label("planned_at"),
        rows.c.not_before,
        literal(OutboxStatus.PENDING).label("status"),
        literal(0).label("attempts"),
    ).where(literal(True))  # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT
    columns = [
        "dedupe_key", "debtor_id", "kind", "stage", "template_key", "planned_at", "not_before",
        "status", "attempts",
    ]  # fmt: skip
    stmt = (
        dialect_insert(session, ReminderOutbox)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return (await session.execute(stmt)).rowcount or 0


async def _open_final_tickets(session: AsyncSession, policy: Policy, now: datetime) -> int:
    c = plan_candidate.c
    at = literal(now, HandoffTicket.opened_at.type)
    # NOT IN over an uncorrelated set is hashed once; a correlated NOT EXISTS would rescan the
    # ticket table as this very statement fills it.
    open_ticket = select(HandoffTicket.debtor_id).where(
        HandoffTicket.status != TicketStatus.RESOLVED
    )
    debtors = select(
        c.debtor_id,
        literal(TicketStatus.OPEN).label("status"),
        literal(["final_stage"], JSON()).label("reasons"),
        at.label("opened_at"),
        at.label("created_at"),
        at.label("updated_at"),
    ).where(
        c.dpd >= policy.final.from_dpd,
        c.debtor_id.not_in(open_ticket),
        # Agreements and pauses come first: a debtor keeping a plan is not escalated.
        or_(c.reason.is_(None), c.reason.in_(ESCALATE_DESPITE)),
    )
    stmt = (
        dialect_insert(session, HandoffTicket)
        .from_select(
            ["debtor_id", "status", "reasons", "opened_at", "created_at", "updated_at"], debtors
        )
        .on_conflict_do_nothing()
    )
    opened = (await session.execute(stmt)).rowcount or 0
    if opened:
        # One event for the whole pass, not one per ticket: a console refetches its queue on
        # any ticket event, and a pass may open thousands.
        publish(session, "ticket_opened", now=now, count=opened)
    return opened


async def _skipped(session: AsyncSession, policy: Policy) -> Counter[str]:
    """Why debtors whose most overdue account is in a stage got no reminder, by reason."""
    stage, c = _stage_table(policy), plan_candidate.c
    in_stage = select(stage.c.name).where(c.dpd >= stage.c.from_dpd, c.dpd <= stage.c.to_dpd)
    rows = await session.execute(
        select(c.reason, func.count())
        .where(c.reason.is_not(None), in_stage.exists())
        .group_by(c.reason)
    )
    return Counter(dict(rows.all()))

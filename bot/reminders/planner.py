"""The planner: for one instant, decide in set-based SQL who gets which reminder, and write
outbox rows whose dedupe key makes planning twice, or in two processes, plan nothing twice."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Select, and_, case, func, literal, not_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Subquery

from bot.db.models import (
    Account,
    AccountStatus,
    Debtor,
    HandoffTicket,
    OutboxStatus,
    ReminderOutbox,
    TicketStatus,
)
from bot.reminders.clock import ZoneClock, zone_clock
from bot.reminders.holds import any_block, debtor_blocks
from bot.reminders.policy import Policy
from bot.reminders.sqlparts import as_text, days_since_epoch, rows_table

# SQLite allows at most 500 terms in a compound SELECT; the zone table is one term per zone.
ZONES_PER_STATEMENT = 400


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


def _open_accounts(
    policy: Policy, zone: Subquery, debtor_id: int | None = None
) -> tuple[Select[Any], Any]:
    """Open, owed accounts joined to their debtor's zone, with days past due."""
    dpd = zone.c.zday - days_since_epoch(Account.due_date)
    query = (
        select(Account.debtor_id)
        .join(Debtor, Debtor.id == Account.debtor_id)
        .join(zone, zone.c.tz == Debtor.timezone)
        .where(Account.status == AccountStatus.OPEN, Account.amount_due_minor > 0)
    )
    if policy.holds.dispute:
        query = query.where(Account.dispute_at.is_(None))
    if debtor_id is not None:
        query = query.where(Account.debtor_id == debtor_id)
    return query, dpd


def warranted(
    policy: Policy,
    clocks: list[ZoneClock],
    *,
    any_hour: bool = False,
    debtor_id: int | None = None,
) -> Select[Any]:
    """One row per debtor who should get a stage reminder now, with its dedupe key."""
    zone, stage = _zone_table(clocks, any_hour=any_hour), _stage_table(policy)
    accounts, dpd = _open_accounts(policy, zone, debtor_id)
    ranked = (
        accounts.add_columns(
            Account.due_date,
            dpd.label("dpd"),
            zone.c.send_from,
            func.row_number()
            .over(partition_by=Account.debtor_id, order_by=(dpd.desc(), Account.id))
            .label("rank"),
        )
        .where(zone.c.plannable == 1, dpd >= policy.earliest_dpd)
        .where(not_(any_block(debtor_blocks(policy.holds, zone.c.zday))))
        .subquery("ranked")
    )
    step = (ranked.c.dpd - stage.c.from_dpd) // stage.c.cadence
    key = (
        literal("stage:")
        + as_text(ranked.c.debtor_id)
        + literal(":")
        + as_text(days_since_epoch(ranked.c.due_date))
        + literal(":")
        + stage.c.name
        + literal(":")
        + as_text(step)
    )
    return (
        select(
            key.label("dedupe_key"),
            ranked.c.debtor_id,
            stage.c.name.label("stage"),
            stage.c.template.label("template_key"),
            ranked.c.send_from.label("not_before"),
        )
        .select_from(ranked)
        .join(stage, and_(ranked.c.dpd >= stage.c.from_dpd, ranked.c.dpd <= stage.c.to_dpd))
        .where(ranked.c.rank == 1)
    )


def _insert(session: AsyncSession, model: Any) -> Any:
    dialect = session.bind.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


async def clocks_for_all_zones(
    session: AsyncSession, policy: Policy, now: datetime
) -> list[ZoneClock]:
    """The clock of every time zone that has a debtor."""
    zones = (await session.execute(select(Debtor.timezone).distinct())).scalars().all()
    return [zone_clock(z, now, policy.window) for z in sorted(zones)]


async def plan(session: AsyncSession, policy: Policy, now: datetime) -> PlanReport:
    """Plan every reminder due at ``now`` and open tickets for the final stage."""
    report = PlanReport()
    clocks = await clocks_for_all_zones(session, policy, now)
    for start in range(0, len(clocks), ZONES_PER_STATEMENT):
        chunk = clocks[start : start + ZONES_PER_STATEMENT]
        report.planned += await _plan_reminders(session, policy, chunk, now)
        report.tickets_opened += await _open_final_tickets(session, policy, chunk, now)
        report.skipped += await _skipped(session, policy, chunk)
    return report


async def _plan_reminders(
    session: AsyncSession, policy: Policy, clocks: list[ZoneClock], now: datetime
) -> int:
    rows = warranted(policy, clocks).subquery("warranted")
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
    stmt = (
        _insert(session, ReminderOutbox)
        .from_select(
            [
                "dedupe_key",
                "debtor_id",
                "kind",
                "stage",
                "template_key",
                "planned_at",
                "not_before",
                "status",
                "attempts",
            ],
            source,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return (await session.execute(stmt)).rowcount or 0


async def _open_final_tickets(
    session: AsyncSession, policy: Policy, clocks: list[ZoneClock], now: datetime
) -> int:
    zone = _zone_table(clocks)
    accounts, dpd = _open_accounts(policy, zone)
    open_ticket = select(HandoffTicket.id).where(
        HandoffTicket.debtor_id == Account.debtor_id,
        HandoffTicket.status != TicketStatus.RESOLVED,
    )
    debtors = (
        accounts.where(dpd >= policy.final.from_dpd, ~open_ticket.exists())
        .group_by(Account.debtor_id)
        .with_only_columns(
            Account.debtor_id,
            literal(TicketStatus.OPEN).label("status"),
            literal(["final_stage"], JSON()).label("reasons"),
            literal(now, HandoffTicket.opened_at.type).label("opened_at"),
            literal(now, HandoffTicket.opened_at.type).label("created_at"),
            literal(now, HandoffTicket.opened_at.type).label("updated_at"),
        )
    )
    stmt = (
        _insert(session, HandoffTicket)
        .from_select(
            ["debtor_id", "status", "reasons", "opened_at", "created_at", "updated_at"], debtors
        )
        .on_conflict_do_nothing()
    )
    return (await session.execute(stmt)).rowcount or 0


def block_reasons(
    policy: Policy,
    clocks: list[ZoneClock],
    *,
    any_hour: bool = False,
    debtor_id: int | None = None,
) -> Select[Any]:
    """(debtor_id, reason) for debtors with an account in a stage who may not be reminded."""
    zone, stage = _zone_table(clocks, any_hour=any_hour), _stage_table(policy)
    accounts, dpd = _open_accounts(policy, zone, debtor_id)
    in_stage = select(stage.c.name).where(dpd >= stage.c.from_dpd, dpd <= stage.c.to_dpd)
    blocks = [("window_closed", zone.c.plannable == 0), *debtor_blocks(policy.holds, zone.c.zday)]
    reason = case(*((condition, literal(name)) for name, condition in blocks), else_=None)
    return (
        accounts.add_columns(reason.label("reason"))
        .where(in_stage.exists())
        .group_by(Account.debtor_id, reason)
    )


async def _skipped(session: AsyncSession, policy: Policy, clocks: list[ZoneClock]) -> Counter[str]:
    """Why debtors with an account in a reminder stage got no reminder, counted by reason."""
    per_debtor = block_reasons(policy, clocks).subquery()
    counted = select(per_debtor.c.reason, func.count()).where(per_debtor.c.reason.is_not(None))
    rows = await session.execute(counted.group_by(per_debtor.c.reason))
    return Counter(dict(rows.all()))

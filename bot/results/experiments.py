"""How the two arms of template experiments compare: reply, promise and payment rates within
7 days of a debtor's first message in the experiment, each with its 95% interval.

A debtor is exposed when the first stage message of the experiment went out to them (their
first ``sent`` outbox row carrying its id); they count in the rates once their 7 days have
passed, so a rate is always "within 7 days" and never a week cut short. Each figure is one
set-based query for every experiment and arm at once, grouped by both: the exposures are
read from the outbox, and the events from indexed lookups per exposed debtor
(``contact_log (debtor_id, created_at)``, ``promise``/``repayment_plan (debtor_id)``,
``account (debtor_id)`` and ``payment (account_id)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from bot.db.base import UTCDateTime
from bot.db.models import (
    Account,
    ContactLog,
    Direction,
    OutboxStatus,
    Payment,
    Promise,
    ReminderOutbox,
    RepaymentPlan,
    TemplateExperiment,
)
from bot.results.dashboard import make_room
from bot.results.intervals import Difference, Proportion, newcombe, proportion
from bot.templates.experiments import CHALLENGER, CONTROL

WINDOW = timedelta(days=7)
METRICS = ("replied", "promised", "paid")


class week_after(FunctionElement[datetime]):
    """A UTC timestamp column plus exactly 7 days, to the microsecond on either database."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(week_after, "postgresql")
def _week_after_pg(element: week_after, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} + INTERVAL '7 days')"


@compiles(week_after, "sqlite")
def _week_after_sqlite(element: week_after, compiler: Any, **kw: Any) -> str:
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff': move the date and time, keep the fraction,
    # so the result compares as text exactly as the stored values do.
    column = compiler.process(element.clauses, **kw)
    return f"(strftime('%Y-%m-%d %H:%M:%S', {column}, '+7 days') || substr({column}, 20))"


@dataclass(frozen=True)
class Arm:
    """One arm's debtors and what they did within 7 days of their first message."""

    name: str
    version: int
    exposed: int  # debtors who got the arm's message
    measured: int  # of them, those whose 7 days have passed: the rates' denominator
    rates: dict[str, Proportion]


@dataclass(frozen=True)
class Figures:
    """An experiment's two arms and, per metric, challenger minus control."""

    experiment_id: int
    control: Arm
    challenger: Arm
    differences: dict[str, Difference | None]


def _exposures(ids: Sequence[int]) -> Any:
    """Each debtor of each experiment with their arm and their first message's instant."""
    o = ReminderOutbox
    return (
        select(o.experiment_id, o.arm, o.debtor_id, func.min(o.sent_at).label("exposed_at"))
        .where(o.experiment_id.in_(ids), o.status == OutboxStatus.SENT, o.arm.is_not(None))
        .group_by(o.experiment_id, o.arm, o.debtor_id)
        .subquery("exposure")
    )


def _within(column: Any, exposed_at: Any) -> ColumnElement[bool]:
    """From the exposure on, and less than 7 days after it."""
    return and_(column >= exposed_at, column < week_after(exposed_at))


def _events(e: Any) -> dict[str, ColumnElement[bool]]:
    """Per metric, whether an exposed debtor did it within their 7 days."""
    replied = exists().where(
        ContactLog.debtor_id == e.c.debtor_id,
        ContactLog.direction == Direction.IN,
        _within(ContactLog.created_at, e.c.exposed_at),
    )
    promised = or_(
        exists().where(
            Promise.debtor_id == e.c.debtor_id, _within(Promise.created_at, e.c.exposed_at)
        ),
        exists().where(
            RepaymentPlan.debtor_id == e.c.debtor_id,
            _within(RepaymentPlan.created_at, e.c.exposed_at),
        ),
    )
    paid = exists(
        select(Payment.id)
        .join(Account, Account.id == Payment.account_id)
        .where(
            Account.debtor_id == e.c.debtor_id,
            Payment.amount_minor > 0,
            _within(Payment.paid_at, e.c.exposed_at),
        )
    )
    return {"replied": replied, "promised": promised, "paid": paid}


def _difference(a: Arm, b: Arm, metric: str) -> Difference | None:
    return newcombe(a.rates[metric].hits, a.measured, b.rates[metric].hits, b.measured)


def _by_arm(e: Any, *columns: Any) -> Select[Any]:
    return select(e.c.experiment_id, e.c.arm, *columns).group_by(e.c.experiment_id, e.c.arm)


async def experiment_figures(
    s: AsyncSession, experiments: Sequence[TemplateExperiment], *, as_of: datetime
) -> dict[int, Figures]:
    """Every arm's figures for ``experiments``, counting debtors whose 7 days ended by
    ``as_of``; by experiment id."""
    ids = [x.id for x in experiments]
    if not ids:
        return {}
    await make_room(s)
    e = _exposures(ids)
    matured = e.c.exposed_at <= as_of - WINDOW
    counts = await s.execute(
        _by_arm(e, func.count(), func.coalesce(func.sum(case((matured, 1), else_=0)), 0))
    )
    exposed: dict[tuple[int, str], tuple[int, int]] = {
        (x, arm): (int(n), int(m)) for x, arm, n, m in counts.all()
    }
    hits: dict[str, dict[tuple[int, str], int]] = {}
    for metric, happened in _events(e).items():
        rows = await s.execute(_by_arm(e, func.count()).where(matured, happened))
        hits[metric] = {(x, arm): int(n) for x, arm, n in rows.all()}
    found = {}
    for x in experiments:
        arms = {}
        for name, version in ((CONTROL, x.control_version), (CHALLENGER, x.challenger_version)):
            n, m = exposed.get((x.id, name), (0, 0))
            rates = {k: proportion(hits[k].get((x.id, name), 0), m) for k in METRICS}
            arms[name] = Arm(name, version, n, m, rates)
        control, challenger = arms[CONTROL], arms[CHALLENGER]
        differences = {k: _difference(challenger, control, k) for k in METRICS}
        found[x.id] = Figures(x.id, control, challenger, differences)
    return found

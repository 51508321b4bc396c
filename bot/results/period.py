"""What every figure is asked for (a period, a stage, a language) and what it answers with (named
tables of numbers, which the console draws, shows and exports as CSV)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Select, and_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from bot.db.models import AccountBucket, Debtor
from bot.results.buckets import CLOSED, PAID


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end`` (both included; instants from 00:00 UTC of ``start`` to 00:00
    UTC after ``end``), optionally one stage (bucket) and one language of debtor."""

    start: date
    end: date
    stage: str | None = None
    locale: str | None = None

    @property
    def since(self) -> datetime:
        """The period's first instant."""
        return datetime.combine(self.start, time(), UTC)

    @property
    def until(self) -> datetime:
        """The instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    @property
    def days(self) -> list[date]:
        """Every day of the period."""
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def during(self, column: ColumnElement[datetime]) -> ColumnElement[bool]:
        """An instant within the period."""
        return and_(column >= self.since, column < self.until)


@dataclass
class Table:
    """One figure's numbers: a title, column names and rows (numbers, text or None)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""
    # Columns holding shares (0–1), shown as percentages.
    percent: frozenset[str] = frozenset()


def ratio(part: int | float, whole: int | float) -> float | None:
    """``part / whole``, or None when there is nothing to divide by."""
    return part / whole if whole else None


def stretch_overlaps(period: Period) -> ColumnElement[bool]:
    """An account_bucket stretch with at least one day in the period."""
    b = AccountBucket
    return and_(b.from_day <= period.end, or_(b.until_day.is_(None), b.until_day > period.start))


def bucket_on(day: date, b: Any = AccountBucket) -> ColumnElement[bool]:
    """The stretch (of ``b``, an alias of account_bucket) an account was in on ``day``."""
    return and_(b.from_day <= day, or_(b.until_day.is_(None), b.until_day > day))


def debtors_in_book(period: Period) -> Select[Any]:
    """Debtors who owed something during the period (from the recorded history, so a past
    period reads the same tomorrow), in the period's stage and language."""
    b = AccountBucket
    query = select(b.debtor_id).where(stretch_overlaps(period))
    if period.stage is not None:
        query = query.where(b.bucket == period.stage)
    else:
        query = query.where(b.bucket.not_in([PAID, CLOSED]))
    if period.locale is not None:
        query = query.join(Debtor, Debtor.id == b.debtor_id).where(Debtor.locale == period.locale)
    return query


def in_scope(column: ColumnElement[int], period: Period) -> ColumnElement[bool] | None:
    """A debtor id within the period's stage and language (None: every debtor is)."""
    if period.stage is None and period.locale is None:
        return None
    if period.stage is None:
        return column.in_(select(Debtor.id).where(Debtor.locale == period.locale))
    return column.in_(debtors_in_book(period))


def scoped(query: Select[Any], column: ColumnElement[int], period: Period) -> Select[Any]:
    """``query`` kept to the period's stage and language."""
    condition = in_scope(column, period)
    return query if condition is None else query.where(condition)


class utc_day(FunctionElement[date]):
    """The UTC date of a timestamp column."""

    type = Date()
    inherit_cache = True


@compiles(utc_day, "postgresql")
def _utc_day_pg(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') AS DATE)"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"

"""Declarative base, naming convention and column types shared by every model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import BigInteger, DateTime, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite keeps no offset, so values are normalised to UTC on the way in and tagged UTC on
    the way out; naive datetimes are refused so local times never slip in by accident.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The real current instant in UTC: the clock entry points inject, never a column default."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Base of every model: one metadata, one naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    """A surrogate integer primary key."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, sort_order=-10)


class TimestampMixin:
    """Creation and last-change instants (UTC), given by every writer from its injected clock.

    No Python-side default: a default would be the real time, which ``remind --at`` and tests
    must never write; an insert that forgets them fails on NOT NULL instead.
    """

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), sort_order=10)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), sort_order=10)


def touch(row: TimestampMixin, now: datetime) -> None:
    """Set a loaded row's ``updated_at`` to the writer's instant, written even when it equals
    the stored one: the ORM leaves an unchanged value out of the UPDATE, and a column's
    timestamp must come from the writer's clock, never from a column default."""
    row.updated_at = now
    flag_modified(row, "updated_at")


T = TypeVar("T")
IN_LIST = 5000  # values per IN (...) list: well under both databases' limits on parameters


def in_slices(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """``items`` in slices short enough for one ``IN (...)`` list each."""
    for start in range(0, len(items), IN_LIST):
        yield items[start : start + IN_LIST]
